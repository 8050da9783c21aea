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
    /// The service as the SDK names it: `DynamoDB`, `SESv2`, `Secrets Manager`.
    pub service: String,
    pub operation: String,
    /// The `TableName` of a DynamoDB request.
    pub table: Option<String>,
    pub started: Instant,
    pub finished: Option<Instant>,
}

impl Call {
    /// The IAM action this call needs, e.g. `dynamodb:PutItem`.
    pub fn iam_action(&self) -> String {
        let prefix = match self.service.as_str() {
            "DynamoDB" => "dynamodb",
            "SESv2" => "ses",
            "Secrets Manager" => "secretsmanager",
            other => other,
        };
        format!("{prefix}:{}", self.operation)
    }
}

/// A shared log of calls; clone it into each client's config with `.interceptor(log.clone())`.
#[derive(Clone, Debug, Default)]
pub struct CallLog(Arc<Mutex<Vec<Call>>>);

#[derive(Debug, Clone, Copy)]
struct CallIndex(usize);

impl Storable for CallIndex {
    type Storer = StoreReplace<Self>;
}

impl CallLog {
    pub fn calls(&self) -> Vec<Call> {
        self.0.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
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
        let table = context
            .request()
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
            .and_then(|v| v.get("TableName").and_then(|t| t.as_str()).map(str::to_owned));
        let mut calls = self.0.lock().unwrap();
        calls.push(Call { service, operation, table, started: Instant::now(), finished: None });
        cfg.interceptor_state().store_put(CallIndex(calls.len() - 1));
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(CallIndex(i)) = cfg.load::<CallIndex>().copied() {
            self.0.lock().unwrap()[i].finished = Some(Instant::now());
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
            started: origin + Duration::from_millis(start),
            finished: Some(origin + Duration::from_millis(end)),
        }
    }

    #[test]
    fn overlapping_calls_count_once_in_the_sequential_depth() {
        let t = Instant::now();
        let log = CallLog::default();
        // a, then b and c together, then d: three round trips one after another.
        log.0.lock().unwrap().extend([call(0, 10, t), call(11, 20, t), call(12, 25, t), call(30, 40, t)]);
        assert_eq!(log.sequential_depth(), 3);
    }
}
