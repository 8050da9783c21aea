//! `ticketctl`, run as an operator runs it.

use serde_json::Value;
use ticket_api::config::Tables;

use super::fixtures::*;
use super::stack::{stack_var, unique};

/// `ticketctl` as an operator runs it, on fresh tables of DynamoDB Local with the test pepper.
pub struct Ctl {
    pub tables: Tables,
}

impl Ctl {
    pub fn new() -> Self {
        stack_var("AWS_ENDPOINT_URL_DYNAMODB");
        let run = unique("ctl");
        Self {
            tables: Tables {
                api_keys: format!("{run}-keys"),
                collections: format!("{run}-collections"),
                tickets: format!("{run}-tickets"),
                limits: format!("{run}-limits"),
                idempotency: format!("{run}-idempotency"),
                suppressions: format!("{run}-suppressions"),
            },
        }
    }

    pub fn run(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_ticketctl"))
            .args(args)
            .env("API_KEYS_TABLE", &self.tables.api_keys)
            .env("COLLECTIONS_TABLE", &self.tables.collections)
            .env("TICKETS_TABLE", &self.tables.tickets)
            .env("LIMITS_TABLE", &self.tables.limits)
            .env("IDEMPOTENCY_TABLE", &self.tables.idempotency)
            .env("SUPPRESSIONS_TABLE", &self.tables.suppressions)
            .env("API_KEY_PEPPER", PEPPER)
            .env("SENDER_EMAIL", SENDER)
            .env("PUBLIC_BASE_URL", BASE_URL)
            // The tests' webhook receivers are on 127.0.0.1 (never so in a deployment).
            .env("WEBHOOKS_ALLOW_LOOPBACK_HTTP", "true")
            // A person's patience at a terminal: make test's heaviest runs share DynamoDB Local with these calls.
            .env("UPSTREAM_ATTEMPT_TIMEOUT_MS", "20000")
            .output()
            .expect("ticketctl runs")
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "ticketctl {args:?} failed: {stderr}");
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).unwrap_or_else(|e| panic!("ticketctl {args:?}: not JSON: {e}"))
    }
}
