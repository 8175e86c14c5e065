"""The auth and auditd parsers build their events from fixed code and skip the generic
storable repair (``check_built``): whatever a line holds, every event they make must need no
repair — right field names, nesting, types, addresses and 64-bit integers."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.lines import Line
from agent.normalise import Source
from agent.parsers.auditd import AuditLog
from agent.parsers.auth import AuthLog
from auditseal.formats import storable

SRC = Source("acme", "host-1")
NOW = "2026-11-28T12:00:00.000000Z"

WORDS = st.sampled_from(
    [
        "alice",
        "root",
        "",
        "-1",
        "4294967295",
        "99999999999999999999999",
        "1.2.3.4",
        "::1",
        "01.2.3.4",
        "a.b",
        "2001:db8::1",
        "(uid=0)",
        "ä",
        "\u202e",
        "x" * 300,
        "0x41",
        "616263",
        "2F6574632F736861646F77",
        "?",
    ]
)
VALUE = st.one_of(WORDS, st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=20))

AUTH_TEMPLATES = [
    "Nov 28 10:15:01 {0} sshd[{1}]: Accepted publickey for {2} from {3} port {1} ssh2: {4}",
    "Nov 28 10:15:01 {0} sshd[{1}]: Failed password for invalid user {2} from {3} port {1} ssh2",
    "Nov 28 10:15:01  sshd[{1}]: Invalid user {2} from {3} port {1}",
    "2026-11-28T10:15:01.5 {0} sshd[{1}]: Disconnected from authenticating user {2} {3} port {1} [preauth]",
    "Nov 28 10:15:01 {0} sshd[{1}]: Connection closed by invalid user {2} {3} port {1} [preauth]",
    "Nov 28 10:15:01 {0} sshd[{1}]: Did not receive identification string from {3} port {1}",
    "Nov 28 10:15:01 {0} sshd[{1}]: error: maximum authentication attempts exceeded for {2} from {3} port {1} ssh2",
    "Nov 28 10:15:01 {0} sshd[{1}]: subsystem request for {4} by user {2}",
    "Nov 28 10:15:01 {0} sshd[{1}]: pam_unix(sshd:session): session opened for user {2}(uid={1}) by {4}(uid={1})",
    "Nov 28 10:15:01 {0} su[{1}]: pam_unix(su:auth): authentication failure; logname={2} uid={1} euid=0 tty={4} "
    "ruser={2} rhost={3}  user={4}",
    'Nov 28 10:15:01 {0} sshd[{1}]: pam_succeed_if(sshd:auth): requirement "uid >= 1000" not met by user "{2}"',
    "Nov 28 10:15:01 {0} sudo: {2} : {4} ; TTY={4} ; PWD={4} ; USER={2} ; COMMAND={4}",
    "Nov 28 10:15:01 {0} sudo: {2} : user NOT in sudoers ; TTY={4} ; PWD={4} ; USER={2} ; COMMAND={4}",
    "Nov 28 10:15:01 {0} useradd[{1}]: new user: name={2}, UID={1}, GID={1}, home={4}, shell={4}, from={4}",
    "Nov 28 10:15:01 {0} groupadd[{1}]: new group: name={2}, GID={1}",
    "Nov 28 10:15:01 {0} passwd[{1}]: password for '{2}' changed by '{4}'",
    "Nov 28 10:15:01 {0} gpasswd[{1}]: user {2} added by {4} to group {4}",
]
AUDIT_TEMPLATES = [
    "type=USER_LOGIN msg=audit(1764324901.123:{1}): pid={1} uid={1} auid={1} ses={1} msg='op=login id={1} "
    'acct={2} exe="{4}" hostname={0} addr={3} terminal={4} res={4}\'',
    "type=ADD_USER msg=audit(1764324901.123:{1}): pid={1} uid=0 auid={1} msg='op=add-user id={1} acct={2} res=x'",
    "type=ADD_GROUP msg=audit(1764324901.123:{1}): pid={1} uid=0 auid={1} msg='op=add-group id={2} acct={4}'",
    "type=SYSCALL msg=audit(1764324901.123:{1}): arch={4} syscall={4} success=yes exit={1} ppid={1} pid={1} "
    "auid={2} uid={2} gid={1} euid={1} comm={4} exe={4} key={4}",
    "type=EXECVE msg=audit(1764324901.123:{1}): argc={1} a0={4} a1={2}",
    "type=USER_CMD msg=audit(1764324901.123:{1}): pid={1} uid={1} auid={1} msg='cwd=\"{4}\" cmd={4} res=success'",
    "type=MAC_IPSEC_EVENT msg=audit(1764324901.123:{1}): op=SPD-delete auid={1} src={3} dst={2} res=1",
    "type=CRYPTO_SESSION msg=audit(1764324901.123:{1}): pid={1} msg='op=start rport={1} laddr={3} lport={1} "
    "addr={2} hostname={4}'",
    "type=VIRT_CONTROL msg=audit(1764324901.123:{1}): pid={1} uid=0 auid={1} msg='virt=kvm op={4} user={2} res=x'",
    "type={4} msg=audit(1764324901.123:{1}): pid={1} uid={1} auid={1} acct={2} addr={3}",
]


def check(parser, text):
    parsed = parser.parse([Line(text.encode(), len(text) + 1)], SRC, NOW, final=True)
    for doc in parsed.events:
        assert storable._pending_moves(doc) == [], (text, doc)
        storable.check_parsed(doc)  # the full check agrees


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.sampled_from(AUTH_TEMPLATES), st.lists(VALUE, min_size=5, max_size=5))
def test_auth_events_need_no_repair(template, values):
    check(AuthLog(), template.format(*(v.replace("{", "").replace("}", "") for v in values)))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.sampled_from(AUDIT_TEMPLATES), st.lists(VALUE, min_size=5, max_size=5))
def test_auditd_events_need_no_repair(template, values):
    values = [v.replace(" ", "_") for v in values]  # one token each, as audit values are
    check(AuditLog(), template.format(*values))


def test_long_lines_of_control_bytes_are_measured_not_trusted():
    """Control bytes cost 6 bytes each as JSON (\\u0001), in every copy of the line an event
    holds: such an event is dead-lettered as too large, never passed on unmeasured."""
    for size in (20_000, 40_000, 200_000):
        text = b"Nov 28 10:15:01 web-1 sudo:    alice : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=" + b"\x01" * size
        parsed = AuthLog().parse([Line(text, len(text) + 1)], SRC, NOW, final=True)
        for doc in parsed.events:
            storable.check_parsed(doc)
        assert len(parsed.events) + len(parsed.rejected) == 1
        assert all(exc.reason == "event_too_large" for _, exc in parsed.rejected)
        audit = b"type=USER_CMD msg=audit(1764324901.123:1): pid=1 uid=0 auid=1 msg='cmd=" + b"01" * size + b"'"
        parsed = AuditLog().parse([Line(audit, len(audit) + 1)], SRC, NOW, final=True)
        for doc in parsed.events:
            storable.check_parsed(doc)
        assert len(parsed.events) + len(parsed.rejected) == 1


@given(
    st.one_of(
        st.ip_addresses().map(str),
        st.lists(st.text(alphabet="0123456789", min_size=0, max_size=4), min_size=1, max_size=6).map(".".join),
        st.text(alphabet="0123456789abcdef:.%x ١", max_size=24),
    )
)
def test_the_ip_check_accepts_exactly_what_ipaddress_accepts(text):
    import ipaddress

    try:
        ipaddress.ip_address(text)
        expected = True
    except ValueError:
        expected = False
    storable._is_ip.cache_clear()
    assert storable._is_ip(text) is expected
