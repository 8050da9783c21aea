//! Abuse-limit counts: one small item per collection, key or requester, and hour, deleted by TTL an hour after
//! its window. A create's write cost is the same whatever the hour's traffic.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::{DynamoStore, n, number_in, s, unavailable};
use crate::domain::CountEntry;
use crate::ports::{Counted, LimitStore, Unavailable};
use crate::schema::{EXPIRES_AT, limits};

const COUNT: &str = "DynamoDB UpdateItem (abuse-limit count)";
const UNCOUNT: &str = "DynamoDB UpdateItem (abuse-limit count taken back)";

impl LimitStore for DynamoStore {
    async fn count(&self, entry: &CountEntry, limit: u32) -> Result<Counted, Unavailable> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.limits)
            .key(limits::ID, s(&entry.id))
            .update_expression("ADD #n :one SET #expires = :expires")
            .condition_expression("attribute_not_exists(#n) OR #n < :limit")
            .expression_attribute_names("#n", "n")
            .expression_attribute_names("#expires", EXPIRES_AT)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit))
            .expression_attribute_values(":expires", n(entry.expires_at))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                Ok(Counted::Counted(out.attributes.as_ref().and_then(|a| number_in(a, "n")).unwrap_or(1) as u32))
            }
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                let old = match e.into_err() {
                    UpdateItemError::ConditionalCheckFailedException(c) => c.item.unwrap_or_default(),
                    _ => Default::default(),
                };
                Ok(Counted::Refused(number_in(&old, "n").unwrap_or(u64::from(limit)) as u32))
            }
            Err(e) => Err(unavailable(COUNT)(e)),
        }
    }

    async fn uncount(&self, entry: &CountEntry) -> Result<(), Unavailable> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.limits)
            .key(limits::ID, s(&entry.id))
            .update_expression("ADD #n :minus")
            .condition_expression("#n > :zero")
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":minus", n(-1))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match result {
            // Already at zero, or expired: nothing to take back.
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(()),
            other => other.map(|_| ()).map_err(unavailable(UNCOUNT)),
        }
    }
}
