//! Remembered creates of the `Idempotency-Key` header. A claim is completed in the same transaction that writes
//! its ticket (`tickets.rs`), so a 201 always has a completed record behind it.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

use super::{DynamoStore, from_item, n, s, to_item, unavailable};
use crate::domain::IdempotencyRecord;
use crate::ports::{IdempotencyStore, Unavailable};
use crate::schema::{EXPIRES_AT, idempotency};

const CLAIM: &str = "DynamoDB PutItem (idempotency claim)";
const GET_CLAIM: &str = "DynamoDB GetItem (idempotency record)";
const RELEASE: &str = "DynamoDB DeleteItem (idempotency released)";

impl IdempotencyStore for DynamoStore {
    async fn claim_idempotency(
        &self,
        claim: &IdempotencyRecord,
        now: u64,
    ) -> Result<Option<IdempotencyRecord>, Unavailable> {
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.idempotency)
            .set_item(Some(to_item(claim)))
            // Free, expired (TTL deletes late), or abandoned mid-create past its lease.
            .condition_expression(
                "attribute_not_exists(#scope) OR #expires <= :now OR (#state = :in_progress AND leaseUntil <= :now)",
            )
            .expression_attribute_names("#scope", idempotency::SCOPE)
            .expression_attribute_names("#expires", EXPIRES_AT)
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":in_progress", s("in_progress"))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(None),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => match e.into_err() {
                PutItemError::ConditionalCheckFailedException(c) => {
                    c.item.map(|item| from_item(CLAIM, item)).transpose()
                }
                _ => unreachable!("checked to be a conditional check failure"),
            },
            Err(e) => Err(unavailable(CLAIM)(e)),
        }
    }

    async fn get_idempotency(&self, scope: &str) -> Result<Option<IdempotencyRecord>, Unavailable> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.idempotency)
            .key(idempotency::SCOPE, s(scope))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable(GET_CLAIM))?;
        out.item.map(|item| from_item(GET_CLAIM, item)).transpose()
    }

    async fn release_idempotency(&self, scope: &str, nonce: &str) -> Result<(), Unavailable> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.tables.idempotency)
            .key(idempotency::SCOPE, s(scope))
            .condition_expression("#state = :in_progress AND keyNonce = :nonce")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":in_progress", s("in_progress"))
            .expression_attribute_values(":nonce", s(nonce))
            .send()
            .await;
        match result {
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(()),
            other => other.map(|_| ()).map_err(unavailable(RELEASE)),
        }
    }
}
