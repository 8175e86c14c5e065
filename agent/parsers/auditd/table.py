"""ECS categorisation of Linux audit records (data, no logic).

``RECORD_TYPES`` maps every record type of the Linux audit record-type list (``libaudit.h``,
``audit-records.h``) to ``(event.action, event.category, event.type)``. Actions and
categories follow Elastic's own auditd normalisations (go-libaudit, used by Auditbeat and
Filebeat's auditd module); where those give no category, or a value ECS does not allow
(``stop``), the choice here is listed in ``docs/ecs-categorisation.md`` with its reason.

``SYSCALLS`` does the same for the syscall of a SYSCALL record; ``SYSCALL_NAMES`` turns
syscall numbers into names per ``arch=``.
"""

from __future__ import annotations

P, F, N, H, C, IAM, A, S, D = (
    "process",
    "file",
    "network",
    "host",
    "configuration",
    "iam",
    "authentication",
    "session",
    "driver",
)
IDS = "intrusion_detection"


def _t(action: str, category: str, types: str) -> tuple[str, list[str], list[str]]:
    return action, category.split(","), types.split(",")


RECORD_TYPES: dict[str, tuple[str, list[str], list[str]]] = {
    # user-space messages (1100-1199)
    "USER_AUTH": _t("authenticated", A, "info"),
    "USER_ACCT": _t("was-authorized", A, "info"),
    "USER_MGMT": _t("modified-user-account", IAM, "user,change"),
    "CRED_ACQ": _t("acquired-credentials", A, "info"),
    "CRED_DISP": _t("disposed-credentials", A, "info"),
    "USER_START": _t("started-session", S, "start"),
    "USER_END": _t("ended-session", S, "end"),
    "USER_AVC": _t("access-permission", IDS, "info"),
    "USER_CHAUTHTOK": _t("changed-password", IAM, "user,change"),
    "USER_ERR": _t("error", A, "info"),
    "CRED_REFR": _t("refreshed-credentials", A, "info"),
    "USYS_CONFIG": _t("changed-configuration", C, "change"),
    "USER_LOGIN": _t("logged-in", A, "start"),
    "USER_LOGOUT": _t("logged-out", A, "end"),
    "ADD_USER": _t("added-user-account", IAM, "user,creation"),
    "DEL_USER": _t("deleted-user-account", IAM, "user,deletion"),
    "ADD_GROUP": _t("added-group-account-to", IAM, "group,creation"),
    "DEL_GROUP": _t("deleted-group-account-from", IAM, "group,deletion"),
    "DAC_CHECK": _t("access-result", F, "access"),
    "CHGRP_ID": _t("changed-group", P, "change"),
    "TEST": _t("sent-test", P, "info"),
    "TRUSTED_APP": _t("unknown", P, "info"),
    "USER_SELINUX_ERR": _t("access-error", IDS, "info"),
    "USER_CMD": _t("ran-command", P, "start"),
    "USER_TTY": _t("typed", P, "info"),
    "CHUSER_ID": _t("changed-user-id", P, "change"),
    "GRP_AUTH": _t("authenticated-to-group", A, "info"),
    "SYSTEM_BOOT": _t("booted-system", H, "info"),
    "SYSTEM_SHUTDOWN": _t("shutdown-system", H, "info"),
    "SYSTEM_RUNLEVEL": _t("changed-to-runlevel", H, "change"),
    "SERVICE_START": _t("started-service", P, "start"),
    "SERVICE_STOP": _t("stopped-service", P, "end"),
    "GRP_MGMT": _t("modified-group-account", IAM, "group,change"),
    "GRP_CHAUTHTOK": _t("changed-group-password", IAM, "group,change"),
    "MAC_CHECK": _t("mac-permission", IDS, "info"),
    "ACCT_LOCK": _t("locked-account", IAM, "user,info"),
    "ACCT_UNLOCK": _t("unlocked-account", IAM, "user,info"),
    "USER_DEVICE": _t("changed-device-allocation", H, "change"),
    "SOFTWARE_UPDATE": _t("package-updated", "package", "info"),
    # audit daemon (1200-1299)
    "DAEMON_START": _t("started-audit", P, "start"),
    "DAEMON_END": _t("shutdown-audit", P, "end"),
    "DAEMON_ABORT": _t("aborted-auditd-startup", P, "end"),
    "DAEMON_CONFIG": _t("changed-auditd-configuration", f"{P},{C}", "change"),
    "DAEMON_RECONFIG": _t("reconfigured-auditd", f"{P},{C}", "info"),
    "DAEMON_ROTATE": _t("rotated-audit-logs", P, "change"),
    "DAEMON_RESUME": _t("resumed-audit-logging", P, "change"),
    "DAEMON_ACCEPT": _t("remote-audit-connected", N, "connection,start"),
    "DAEMON_CLOSE": _t("remote-audit-disconnected", N, "connection,end"),
    "DAEMON_ERR": _t("audit-error", P, "info"),
    # kernel (1000-1099, 1300-1399)
    "USER": _t("sent-message", P, "info"),
    "LOGIN": _t("changed-login-id-to", A, "start"),
    "SYSCALL": _t("syscall", P, "info"),
    "PATH": _t("path", F, "info"),
    "IPC": _t("ipc", P, "info"),
    "SOCKETCALL": _t("socketcall", N, "info"),
    "CONFIG_CHANGE": _t("changed-audit-configuration", f"{P},{C}", "change"),
    "SOCKADDR": _t("sockaddr", N, "info"),
    "CWD": _t("cwd", P, "info"),
    "EXECVE": _t("executed", P, "start"),
    "IPC_SET_PERM": _t("changed-ipc-permissions", P, "change"),
    "MQ_OPEN": _t("opened-message-queue", P, "info"),
    "MQ_SENDRECV": _t("used-message-queue", P, "info"),
    "MQ_NOTIFY": _t("notified-message-queue", P, "info"),
    "MQ_GETSETATTR": _t("changed-message-queue", P, "change"),
    "KERNEL_OTHER": _t("kernel-other", H, "info"),
    "FD_PAIR": _t("fd-pair", P, "info"),
    "OBJ_PID": _t("obj-pid", P, "info"),
    "TTY": _t("typed", P, "info"),
    "EOE": _t("eoe", P, "info"),
    "BPRM_FCAPS": _t("bprm-fcaps", P, "change"),
    "CAPSET": _t("changed-capabilities", P, "change"),
    "MMAP": _t("allocated-memory", P, "info"),
    "NETFILTER_PKT": _t("packet", N, "connection,info"),
    "NETFILTER_CFG": _t("loaded-firewall-rule-to", C, "change"),
    "SECCOMP": _t("violated-seccomp-policy", IDS, "denied"),
    "PROCTITLE": _t("proctitle", P, "info"),
    "FEATURE_CHANGE": _t("changed-audit-feature", C, "change"),
    "REPLACE": _t("replaced-audit-daemon", P, "change"),
    "KERN_MODULE": _t("loaded-kernel-module", D, "start"),
    "FANOTIFY": _t("fanotify", F, "access"),
    "TIME_INJOFFSET": _t("changed-system-time", H, "change"),
    "TIME_ADJNTPVAL": _t("changed-system-time", H, "change"),
    "BPF": _t("loaded-bpf-program", P, "change"),
    "EVENT_LISTENER": _t("audit-listener", P, "info"),
    "URINGOP": _t("io-uring-operation", P, "info"),
    "OPENAT2": _t("opened-file", F, "info"),
    "DM_CTRL": _t("device-mapper-control", H, "change"),
    "DM_EVENT": _t("device-mapper-event", H, "info"),
    # SELinux (1400-1499)
    "AVC": _t("violated-selinux-policy", IDS, "info"),
    "SELINUX_ERR": _t("caused-mac-policy-error", IDS, "info"),
    "AVC_PATH": _t("avc-path", F, "info"),
    "MAC_POLICY_LOAD": _t("loaded-selinux-policy", C, "access"),
    "MAC_STATUS": _t("changed-selinux-enforcement", C, "change"),
    "MAC_CONFIG_CHANGE": _t("changed-selinux-boolean", C, "change"),
    "MAC_UNLBL_ALLOW": _t("changed-unlabeled-network-policy", C, "change"),
    "MAC_CIPSOV4_ADD": _t("added-cipso-definition", C, "creation"),
    "MAC_CIPSOV4_DEL": _t("deleted-cipso-definition", C, "deletion"),
    "MAC_MAP_ADD": _t("added-label-mapping", C, "creation"),
    "MAC_MAP_DEL": _t("deleted-label-mapping", C, "deletion"),
    "MAC_IPSEC_ADDSA": _t("added-ipsec-sa", C, "creation"),
    "MAC_IPSEC_DELSA": _t("deleted-ipsec-sa", C, "deletion"),
    "MAC_IPSEC_ADDSPD": _t("added-ipsec-policy", C, "creation"),
    "MAC_IPSEC_DELSPD": _t("deleted-ipsec-policy", C, "deletion"),
    "MAC_IPSEC_EVENT": _t("ipsec-event", N, "info"),
    "MAC_UNLBL_STCADD": _t("added-static-label", C, "creation"),
    "MAC_UNLBL_STCDEL": _t("deleted-static-label", C, "deletion"),
    "MAC_CALIPSO_ADD": _t("added-calipso-definition", C, "creation"),
    "MAC_CALIPSO_DEL": _t("deleted-calipso-definition", C, "deletion"),
    # AppArmor (1500-1599)
    "APPARMOR_AUDIT": _t("apparmor-audit", IDS, "info"),
    "APPARMOR_ALLOWED": _t("apparmor-allowed", IDS, "allowed"),
    "APPARMOR_DENIED": _t("violated-apparmor-policy", IDS, "denied"),
    "APPARMOR_HINT": _t("apparmor-hint", IDS, "info"),
    "APPARMOR_STATUS": _t("changed-apparmor-status", C, "change"),
    "APPARMOR_ERROR": _t("apparmor-error", IDS, "info"),
    # kernel anomalies (1700-1799) and integrity (1800-1899)
    "ANOM_PROMISCUOUS": _t("changed-promiscuous-mode-on-device", H, "change"),
    "ANOM_ABEND": _t("crashed-program", P, "end"),
    "ANOM_LINK": _t("used-suspicious-link", IDS, "info"),
    "ANOM_CREAT": _t("created-suspicious-file", IDS, "info"),
    "INTEGRITY_DATA": _t("checked-integrity-of", F, "info"),
    "INTEGRITY_METADATA": _t("checked-integrity-of", F, "info"),
    "INTEGRITY_STATUS": _t("changed-integrity-status", C, "change"),
    "INTEGRITY_HASH": _t("checked-integrity-of", F, "info"),
    "INTEGRITY_PCR": _t("checked-integrity-of", H, "info"),
    "INTEGRITY_RULE": _t("checked-integrity-of", F, "info"),
    "INTEGRITY_EVM_XATTR": _t("checked-integrity-of", F, "info"),
    "INTEGRITY_POLICY_RULE": _t("changed-integrity-policy", C, "change"),
    # user-space anomalies (2100-2199)
    "ANOM_LOGIN_FAILURES": _t("failed-log-in-too-many-times-to", A, "info"),
    "ANOM_LOGIN_TIME": _t("attempted-log-in-during-unusual-hour-to", A, "info"),
    "ANOM_LOGIN_SESSIONS": _t("opened-too-many-sessions-to", A, "info"),
    "ANOM_LOGIN_ACCT": _t("attempted-log-in-to-unusual-account", A, "info"),
    "ANOM_LOGIN_LOCATION": _t("attempted-log-in-from-unusual-place-to", A, "info"),
    "ANOM_MAX_DAC": _t("exceeded-dac-failures", IDS, "info"),
    "ANOM_MAX_MAC": _t("exceeded-mac-failures", IDS, "info"),
    "ANOM_AMTU_FAIL": _t("failed-amtu-test", H, "info"),
    "ANOM_RBAC_FAIL": _t("failed-rbac-test", IDS, "info"),
    "ANOM_RBAC_INTEGRITY_FAIL": _t("tested-file-system-integrity-of", F, "info"),
    "ANOM_CRYPTO_FAIL": _t("failed-crypto-test", P, "info"),
    "ANOM_ACCESS_FS": _t("accessed-watched-file", F, "access"),
    "ANOM_EXEC": _t("attempted-execution-of-forbidden-program", P, "start"),
    "ANOM_MK_EXEC": _t("made-program-executable", F, "change"),
    "ANOM_ADD_ACCT": _t("added-user-account", IAM, "user,creation"),
    "ANOM_DEL_ACCT": _t("deleted-user-account", IAM, "user,deletion"),
    "ANOM_MOD_ACCT": _t("modified-user-account", IAM, "user,change"),
    "ANOM_ROOT_TRANS": _t("became-root", P, "change"),
    "ANOM_LOGIN_SERVICE": _t("attempted-log-in-to-service", A, "info"),
    "ANOM_LOGIN_ROOT": _t("attempted-root-log-in", A, "info"),
    "ANOM_ORIGIN_FAILURES": _t("failed-log-in-from-origin", A, "info"),
    "ANOM_SESSION": _t("anomalous-session", S, "info"),
    # responses to anomalies (2200-2299)
    **{
        name: _t(name.lower().replace("_", "-"), P, "info")
        for name in (
            "RESP_ANOMALY",
            "RESP_ALERT",
            "RESP_KILL_PROC",
            "RESP_TERM_ACCESS",
            "RESP_ACCT_REMOTE",
            "RESP_ACCT_LOCK_TIMED",
            "RESP_ACCT_UNLOCK_TIMED",
            "RESP_ACCT_LOCK",
            "RESP_TERM_LOCK",
            "RESP_SEBOOL",
            "RESP_EXEC",
            "RESP_SINGLE",
            "RESP_HALT",
            "RESP_ORIGIN_BLOCK",
            "RESP_ORIGIN_BLOCK_TIMED",
            "RESP_ORIGIN_UNBLOCK_TIMED",
        )
    },
    # role-based access control, labels (2300-2399)
    "USER_ROLE_CHANGE": _t("changed-role-to", IAM, "user,change"),
    "ROLE_ASSIGN": _t("assigned-user-role-to", IAM, "user,change"),
    "ROLE_REMOVE": _t("removed-user-role-from", IAM, "user,change"),
    "LABEL_OVERRIDE": _t("overrode-label-of", C, "change"),
    "LABEL_LEVEL_CHANGE": _t("modified-level-of", C, "change"),
    "USER_LABELED_EXPORT": _t("exported-labeled-object", F, "access"),
    "USER_UNLABELED_EXPORT": _t("exported-unlabeled-object", F, "access"),
    "DEV_ALLOC": _t("allocated-device", H, "change"),
    "DEV_DEALLOC": _t("deallocated-device", H, "change"),
    "FS_RELABEL": _t("relabeled-filesystem", F, "change"),
    "USER_MAC_POLICY_LOAD": _t("loaded-mac-policy", C, "access"),
    "ROLE_MODIFY": _t("modified-role", IAM, "change"),
    "USER_MAC_CONFIG_CHANGE": _t("changed-mac-configuration", C, "change"),
    "USER_MAC_STATUS": _t("changed-mac-status", C, "change"),
    # cryptography (2400-2499)
    "CRYPTO_TEST_USER": _t("crypto-officer-tested", P, "info"),
    "CRYPTO_PARAM_CHANGE_USER": _t("changed-crypto-parameters", C, "change"),
    "CRYPTO_LOGIN": _t("crypto-officer-logged-in", A, "start"),
    "CRYPTO_LOGOUT": _t("crypto-officer-logged-out", A, "end"),
    "CRYPTO_KEY_USER": _t("negotiated-crypto-key", P, "info"),
    "CRYPTO_FAILURE_USER": _t("crypto-failure", P, "info"),
    "CRYPTO_REPLAY_USER": _t("crypto-replay-detected", IDS, "info"),
    "CRYPTO_SESSION": _t("started-crypto-session", P, "info"),
    "CRYPTO_IKE_SA": _t("negotiated-ike-sa", N, "connection,start"),
    "CRYPTO_IPSEC_SA": _t("negotiated-ipsec-sa", N, "connection,start"),
    # virtualisation (2500-2599)
    "VIRT_CONTROL": _t("issued-vm-control", H, "info"),
    "VIRT_RESOURCE": _t("assigned-vm-resource", H, "info"),
    "VIRT_MACHINE_ID": _t("assigned-vm-id", H, "info"),
    "VIRT_INTEGRITY_CHECK": _t("checked-integrity-of", H, "info"),
    "VIRT_CREATE": _t("created-vm-image", H, "info"),
    "VIRT_DESTROY": _t("deleted-vm-image", H, "info"),
    "VIRT_MIGRATE_IN": _t("migrated-vm-from", H, "info"),
    "VIRT_MIGRATE_OUT": _t("migrated-vm-to", H, "info"),
    # kernel audit subsystem (2000)
    "KERNEL": _t("initialized-audit-subsystem", P, "info"),
}

# Where user-space records put ``acct=``/``id=``: the actor's own account (authentication
# and sessions), the account acted on (IAM), or the group acted on.
ACCT_IS_ACTOR = {
    "USER_AUTH",
    "USER_ACCT",
    "CRED_ACQ",
    "CRED_DISP",
    "CRED_REFR",
    "USER_START",
    "USER_END",
    "USER_ERR",
    "USER_LOGIN",
    "USER_LOGOUT",
    "GRP_AUTH",
    "ANOM_LOGIN_FAILURES",
    "ANOM_LOGIN_TIME",
    "ANOM_LOGIN_SESSIONS",
    "ANOM_LOGIN_ACCT",
    "ANOM_LOGIN_LOCATION",
    "ANOM_LOGIN_SERVICE",
    "ANOM_LOGIN_ROOT",
}
ACCT_IS_TARGET_USER = {
    "ADD_USER",
    "DEL_USER",
    "USER_MGMT",
    "USER_CHAUTHTOK",
    "ACCT_LOCK",
    "ACCT_UNLOCK",
    "ROLE_ASSIGN",
    "ROLE_REMOVE",
    "USER_ROLE_CHANGE",
    "ANOM_ADD_ACCT",
    "ANOM_DEL_ACCT",
    "ANOM_MOD_ACCT",
}
ACCT_IS_GROUP = {"ADD_GROUP", "DEL_GROUP", "GRP_MGMT", "GRP_CHAUTHTOK"}

# VIRT_CONTROL's op= refines its type, as Filebeat's auditd module does (but ECS allows no
# creation/deletion for host: a VM created or deleted is a change of its host).
VIRT_OPS = {"start": "start", "stop": "end", "create": "change", "delete": "change"}


def _s(action: str, category: str, types: str, direction: str | None = None):
    return action, category.split(","), types.split(","), direction


SYSCALLS: dict[str, tuple[str, list[str], list[str], str | None]] = {}
for _names, _row in (
    ("accept accept4", _s("accepted-connection-from", N, "connection,start", "ingress")),
    (
        "access faccessat faccessat2 fstat fstatat getxattr lgetxattr fgetxattr lstat newfstatat stat stat64 statx",
        _s("checked-metadata-of", F, "info"),
    ),
    ("adjtimex clock_adjtime clock_settime settimeofday stime", _s("changed-system-time", H, "change")),
    ("bind", _s("bound-socket", N, "start")),
    ("brk mmap mmap2 mprotect", _s("allocated-memory", P, "info")),
    ("chmod fchmod fchmodat fchmodat2", _s("changed-file-permissions-of", F, "change")),
    ("chown fchown fchownat lchown", _s("changed-file-ownership-of", F, "change")),
    ("connect", _s("connected-to", N, "connection,start", "egress")),
    ("creat", _s("opened-file", F, "creation")),
    ("delete_module", _s("unloaded-kernel-module", D, "end")),
    ("execve execveat", _s("executed", P, "start")),
    ("fallocate ftruncate truncate", _s("opened-file", F, "change")),
    ("finit_module init_module", _s("loaded-kernel-module", D, "start")),
    (
        "fremovexattr fsetxattr lremovexattr lsetxattr removexattr setxattr",
        _s("changed-file-attributes-of", F, "change"),
    ),
    ("fstatfs statfs", _s("checked-filesystem-metadata-of", F, "info")),
    ("futimens futimesat utime utimensat utimes", _s("changed-timestamp-of", F, "info")),
    ("kill tgkill tkill", _s("killed-pid", P, "end")),
    ("link linkat", _s("linked", F, "creation")),
    ("listen", _s("listen-for-connections", N, "start")),
    ("mkdir mkdirat", _s("created-directory", F, "creation")),
    ("mknod mknodat", _s("make-device", F, "creation")),
    ("mount", _s("mounted", F, "creation")),
    ("open openat openat2 open_by_handle_at readlink readlinkat", _s("opened-file", F, "info")),
    ("read pread64", _s("read-file", F, "info")),
    ("recv recvfrom recvmmsg recvmsg", _s("received-from", N, "connection,info", "ingress")),
    ("rename renameat renameat2", _s("renamed", F, "change")),
    ("rmdir unlink unlinkat", _s("deleted", F, "deletion")),
    ("sched_setattr sched_setparam sched_setscheduler", _s("adjusted-scheduling-policy-of", P, "change")),
    ("send sendmmsg sendmsg sendto", _s("sent-to", N, "connection,info", "egress")),
    ("sethostname setdomainname", _s("changed-system-name", H, "change")),
    (
        "setegid seteuid setfsgid setfsuid setgid setregid setresgid setresuid setreuid setuid setgroups",
        _s("changed-identity-of", P, "change"),
    ),
    ("symlink symlinkat", _s("symlinked", F, "creation")),
    ("umount umount2", _s("unmounted", F, "deletion")),
    ("write pwrite64", _s("wrote-to-file", F, "change")),
    ("ptrace process_vm_readv process_vm_writev", _s("traced-process", P, "access")),
    ("bpf", _s("loaded-bpf-program", P, "change")),
    ("memfd_create", _s("created-memory-file", F, "creation")),
    ("setns unshare", _s("changed-namespace", P, "change")),
    ("chroot pivot_root", _s("changed-root-directory", P, "change")),
    ("reboot", _s("rebooted-system", H, "end")),
    ("swapon swapoff", _s("changed-swap", H, "change")),
    ("clone clone3 fork vfork", _s("forked", P, "start")),
):
    for _name in _names.split():
        SYSCALLS[_name] = _row
DEFAULT_SYSCALL = _s("syscall", P, "info")

ARCHES = {"c000003e": "x86_64", "c00000b7": "aarch64", "40000003": "i386", "40000028": "arm", "c0000015": "ppc64le"}

_X86_64 = """0 read 1 write 2 open 4 stat 5 fstat 6 lstat 9 mmap 10 mprotect 12 brk 17 pread64 18 pwrite64
21 access 41 socket 42 connect 43 accept 44 sendto 45 recvfrom 46 sendmsg 47 recvmsg 49 bind 50 listen
56 clone 57 fork 58 vfork 59 execve 62 kill 76 truncate 77 ftruncate 82 rename 83 mkdir 84 rmdir 85 creat
86 link 87 unlink 88 symlink 89 readlink 90 chmod 91 fchmod 92 chown 93 fchown 94 lchown 101 ptrace
105 setuid 106 setgid 113 setreuid 114 setregid 116 setgroups 117 setresuid 119 setresgid 122 setfsuid
123 setfsgid 132 utime 133 mknod 137 statfs 138 fstatfs 142 sched_setparam 144 sched_setscheduler
155 pivot_root 159 adjtimex 161 chroot 164 settimeofday 165 mount 166 umount2 167 swapon 168 swapoff
169 reboot 170 sethostname 171 setdomainname 175 init_module 176 delete_module 188 setxattr 189 lsetxattr
190 fsetxattr 191 getxattr 192 lgetxattr 193 fgetxattr 197 removexattr 198 lremovexattr 199 fremovexattr
200 tkill 227 clock_settime 234 tgkill 235 utimes 257 openat 258 mkdirat 259 mknodat 260 fchownat
261 futimesat 262 newfstatat 263 unlinkat 264 renameat 265 linkat 266 symlinkat 267 readlinkat 268 fchmodat
269 faccessat 272 unshare 280 utimensat 285 fallocate 288 accept4 299 recvmmsg 304 open_by_handle_at
307 sendmmsg 308 setns 310 process_vm_readv 311 process_vm_writev 313 finit_module 314 sched_setattr
316 renameat2 319 memfd_create 321 bpf 322 execveat 332 statx 435 clone3 437 openat2 439 faccessat2"""
_AARCH64 = """5 setxattr 6 lsetxattr 7 fsetxattr 8 getxattr 9 lgetxattr 10 fgetxattr 14 removexattr
15 lremovexattr 16 fremovexattr 33 mknodat 34 mkdirat 35 unlinkat 36 symlinkat 37 linkat 38 renameat
39 umount2 40 mount 45 truncate 46 ftruncate 48 faccessat 52 fchmod 53 fchmodat 54 fchownat 55 fchown
56 openat 63 read 64 write 79 newfstatat 80 fstat 88 utimensat 105 init_module 106 delete_module
112 clock_settime 117 ptrace 129 kill 130 tkill 131 tgkill 143 setregid 144 setgid 145 setreuid 146 setuid
147 setresuid 149 setresgid 151 setfsuid 152 setfsgid 161 sethostname 162 setdomainname 170 settimeofday
171 adjtimex 198 socket 200 bind 201 listen 202 accept 203 connect 206 sendto 207 recvfrom 211 sendmsg
212 recvmsg 220 clone 221 execve 242 accept4 273 finit_module 276 renameat2 281 execveat"""
_I386 = "5 open 11 execve 37 kill 39 mkdir 10 unlink 15 chmod 23 setuid 102 socketcall 128 init_module 295 openat"


def _numbers(text: str) -> dict[str, str]:
    words = text.split()
    return dict(zip(words[::2], words[1::2], strict=True))


SYSCALL_NAMES = {"x86_64": _numbers(_X86_64), "aarch64": _numbers(_AARCH64), "i386": _numbers(_I386)}
