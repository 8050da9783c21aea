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
    /// The `TableName` of a DynamoDB request; for S3, the object (`{bucket}/{key}`, path-style).
    pub table: Option<String>,
    /// The `IndexName` of a DynamoDB query.
    pub index: Option<String>,
    /// A transaction's items: the action of each (`PutItem`, `UpdateItem`, …) and its table; an S3 copy's two
    /// halves: `GetObject` of its source, `PutObject` of its copy.
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

    /// What IAM checks for this call: (action, table or object, index). A transaction is checked item by item,
    /// each against its own action and table; an S3 copy as a read of its source and a write of its copy; S3's
    /// `HeadObject` is allowed by `s3:GetObject`.
    pub fn iam(&self) -> Vec<(String, Option<String>, Option<String>)> {
        if !self.parts.is_empty() {
            let prefix = self.iam_prefix();
            return self.parts.iter().map(|(op, on)| (format!("{prefix}:{op}"), Some(on.clone()), None)).collect();
        }
        let action = match (self.service.as_str(), self.operation.as_str()) {
            ("S3", "HeadObject") => "s3:GetObject".to_owned(),
            _ => self.iam_action(),
        };
        vec![(action, self.table.clone(), self.index.clone())]
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
        let request = context.request();
        let body = request.body().bytes().and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok());
        let field = |name: &str| body.as_ref().and_then(|v| v.get(name)?.as_str().map(str::to_owned));
        let (mut table, index) = (field("TableName"), field("IndexName"));
        let mut parts = body.as_ref().map(transaction_parts).unwrap_or_default();
        if service == "S3" {
            // Path-style (as a stand-in is reached): `/{bucket}/{key}`.
            let object = request.uri().split("://").last().unwrap_or_default();
            let object = object.split_once('/').map_or("", |(_, path)| path).split('?').next().unwrap_or_default();
            table = Some(object.to_owned());
            if let Some(source) = request.headers().get("x-amz-copy-source") {
                let source = source.trim_start_matches('/').to_owned();
                parts = vec![("GetObject".to_owned(), source), ("PutObject".to_owned(), object.to_owned())];
            }
        }
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
