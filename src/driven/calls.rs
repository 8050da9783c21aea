//! Records every AWS call a client makes (service, operation, DynamoDB table, start and end), through an SDK
//! interceptor. Tests use it to derive the IAM actions the code needs and to count the calls a create waits on.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_sdk_dynamodb::config::interceptors::{BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

/// One call, from its first attempt being sent to its final outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The service as the SDK names it: `DynamoDB`, `SESv2`, `Secrets Manager`, `S3`.
    pub service: String,
    pub operation: String,
    /// The `TableName` of a DynamoDB request.
    pub table: Option<String>,
    /// The `IndexName` of a DynamoDB query.
    pub index: Option<String>,
    /// A transaction's items: the action of each (`PutItem`, `UpdateItem`, …) and its table.
    pub parts: Vec<(String, String)>,
    pub started: Instant,
    pub finished: Option<Instant>,
}

impl Call {
    /// The IAM action this call needs, e.g. `dynamodb:PutItem` (for a transaction: `dynamodb:TransactWriteItems`,
    /// which IAM does not know; see `iam`).
    pub fn iam_action(&self) -> String {
        format!("{}:{}", self.iam_prefix(), self.operation)
    }

    fn iam_prefix(&self) -> &str {
        match self.service.as_str() {
            "DynamoDB" => "dynamodb",
            "SESv2" => "ses",
            "Secrets Manager" => "secretsmanager",
            "S3" => "s3",
            other => other,
        }
    }

    /// What IAM checks for this call: (action, table, index). A transaction is checked item by item, each
    /// against its own action and table.
    pub fn iam(&self) -> Vec<(String, Option<String>, Option<String>)> {
        if self.parts.is_empty() {
            return vec![(self.iam_action(), self.table.clone(), self.index.clone())];
        }
        self.parts.iter().map(|(op, table)| (format!("dynamodb:{op}"), Some(table.clone()), None)).collect()
    }
}

/// The items of a `TransactWriteItems` body: the action and table of each.
fn transaction_parts(body: &serde_json::Value) -> Vec<(String, String)> {
    let actions = [
        ("Put", "PutItem"),
        ("Update", "UpdateItem"),
        ("Delete", "DeleteItem"),
        ("ConditionCheck", "ConditionCheckItem"),
    ];
    body.get("TransactItems")
        .and_then(|items| items.as_array())
        .map(|items| {
            items
                .iter()
                .flat_map(|item| {
                    actions.iter().filter_map(move |(key, action)| {
                        let table = item.get(*key)?.get("TableName")?.as_str()?;
                        Some(((*action).to_owned(), table.to_owned()))
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A shared log of calls; clone it into each client's config with `.interceptor(log.clone())`.
#[derive(Clone, Debug, Default)]
pub struct CallLog(Arc<Mutex<Log>>);

#[derive(Debug, Default)]
struct Log {
    /// Incremented by each `clear`, so that a call in flight across one is not mistaken for a later call.
    generation: u64,
    calls: Vec<Call>,
}

#[derive(Debug, Clone, Copy)]
struct CallIndex(u64, usize);

impl Storable for CallIndex {
    type Storer = StoreReplace<Self>;
}

impl CallLog {
    pub fn calls(&self) -> Vec<Call> {
        self.0.lock().unwrap().calls.clone()
    }

    pub fn clear(&self) {
        let mut log = self.0.lock().unwrap();
        log.generation += 1;
        log.calls.clear();
    }

    /// The longest chain of calls in which each started after the previous one finished: how many round trips
    /// a caller waited on one after another. Calls that overlap count once.
    pub fn sequential_depth(&self) -> usize {
        let mut calls = self.calls();
        calls.sort_by_key(|c| c.started);
        let mut depth = vec![1usize; calls.len()];
        for i in 0..calls.len() {
            for j in 0..i {
                if calls[j].finished.is_some_and(|end| end <= calls[i].started) {
                    depth[i] = depth[i].max(depth[j] + 1);
                }
            }
        }
        depth.into_iter().max().unwrap_or(0)
    }
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "CallLog"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<CallIndex>().is_some() {
            return Ok(()); // a retry of a call already recorded
        }
        let (service, operation) =
            cfg.load::<Metadata>().map(|m| (m.service().to_owned(), m.name().to_owned())).unwrap_or_default();
        let body = context.request().body().bytes().and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok());
        let field = |name: &str| body.as_ref().and_then(|v| v.get(name)?.as_str().map(str::to_owned));
        let (table, index) = (field("TableName"), field("IndexName"));
        let parts = body.as_ref().map(transaction_parts).unwrap_or_default();
        let mut log = self.0.lock().unwrap();
        log.calls.push(Call { service, operation, table, index, parts, started: Instant::now(), finished: None });
        let at = CallIndex(log.generation, log.calls.len() - 1);
        cfg.interceptor_state().store_put(at);
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // A call that was in flight when the log was cleared is not in it any more.
        let mut log = self.0.lock().unwrap();
        if let Some(CallIndex(generation, i)) = cfg.load::<CallIndex>().copied()
            && generation == log.generation
        {
            log.calls[i].finished = Some(Instant::now());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn call(start: u64, end: u64, origin: Instant) -> Call {
        Call {
            service: "DynamoDB".into(),
            operation: "GetItem".into(),
            table: None,
            index: None,
            parts: vec![],
            started: origin + Duration::from_millis(start),
            finished: Some(origin + Duration::from_millis(end)),
        }
    }

    #[test]
    fn overlapping_calls_count_once_in_the_sequential_depth() {
        let t = Instant::now();
        let log = CallLog::default();
        // a, then b and c together, then d: three round trips one after another.
        log.0.lock().unwrap().calls.extend([call(0, 10, t), call(11, 20, t), call(12, 25, t), call(30, 40, t)]);
        assert_eq!(log.sequential_depth(), 3);
    }
}
