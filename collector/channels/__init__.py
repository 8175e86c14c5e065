"""Alert channels: webhook (Standard Webhooks), Slack, PagerDuty Events v2; the dispatcher."""
