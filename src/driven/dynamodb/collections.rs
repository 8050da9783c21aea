//! Collections and their ticket counter: the conditional increment that takes a ticket number, and the
//! operator's administration of collections.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use crate::domain::webhook::{Endpoint, EndpointChange};
use crate::domain::{Collection, CollectionId, RateLimits};
use crate::ports::{CollectionStore, EndpointAdded, NumberTaken, Unavailable};
use crate::schema::collections;

use super::{DynamoStore, Item, from_item, n, number_in, s, to_item, unavailable};

const GET_COLLECTION: &str = "DynamoDB GetItem (collection)";
const TAKE_NUMBER: &str = "DynamoDB UpdateItem (ticket counter)";
const RAISE_COUNTER: &str = "DynamoDB UpdateItem (ticket counter moved past its tickets)";
const TEAM_LINKS: &str = "DynamoDB UpdateItem (team links revoked)";
const PUT_WEBHOOK: &str = "DynamoDB UpdateItem (webhook endpoint added)";
const CHANGE_WEBHOOK: &str = "DynamoDB UpdateItem (webhook endpoint changed)";
const REMOVE_WEBHOOK: &str = "DynamoDB UpdateItem (webhook endpoint removed)";
/// The collection's map of webhook endpoints, by id.
const WEBHOOKS: &str = "webhooks";

pub(super) fn limits_value(limits: &RateLimits) -> AttributeValue {
    serde_dynamo::to_attribute_value(limits).expect("limits map to a DynamoDB map")
}

impl DynamoStore {
    /// One conditional update of the collection's endpoints: `Stored`, or what its condition refused.
    async fn update_webhooks(
        &self,
        id: &CollectionId,
        update: &str,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
        endpoint_id: Option<&str>,
        operation: &'static str,
    ) -> Result<bool, Unavailable> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.tables.collections)
            .key(collections::ID, s(id.as_str()))
            .update_expression(update)
            .condition_expression(condition)
            .expression_attribute_names("#hooks", WEBHOOKS)
            .expression_attribute_names("#cid", collections::ID);
        if let Some(endpoint_id) = endpoint_id {
            request = request.expression_attribute_names("#id", endpoint_id);
        }
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(false),
            Err(e) => Err(unavailable(operation)(e)),
        }
    }
}

impl CollectionStore for DynamoStore {
    async fn add_endpoint(
        &self,
        id: &CollectionId,
        endpoint: &Endpoint,
        max: usize,
    ) -> Result<EndpointAdded, Unavailable> {
        let value = AttributeValue::M(to_item(endpoint));
        // A map's member can be set only once the map exists. Into the map, if it is there with room and without
        // this id; else, if there is no map, the map made with it; if another add made the map meanwhile (two
        // first adds at once), into it again.
        for _ in 0..2 {
            let into_map = self
                .update_webhooks(
                    id,
                    "SET #hooks.#id = :endpoint",
                    "attribute_exists(#cid) AND attribute_exists(#hooks) AND attribute_not_exists(#hooks.#id) \
                     AND size(#hooks) < :max",
                    vec![(":endpoint", value.clone()), (":max", n(max as u64))],
                    Some(&endpoint.id),
                    PUT_WEBHOOK,
                )
                .await?;
            if into_map {
                return Ok(EndpointAdded::Stored);
            }
            let map = std::collections::HashMap::from([(endpoint.id.clone(), value.clone())]);
            let first = self
                .update_webhooks(
                    id,
                    "SET #hooks = :map",
                    "attribute_exists(#cid) AND attribute_not_exists(#hooks)",
                    vec![(":map", AttributeValue::M(map))],
                    None,
                    PUT_WEBHOOK,
                )
                .await?;
            if first {
                return Ok(EndpointAdded::Stored);
            }
        }
        // Refused both ways: tell a missing collection from a full one.
        Ok(match self.get_collection(id).await? {
            Some(_) => EndpointAdded::Full,
            None => EndpointAdded::NotFound,
        })
    }

    async fn change_endpoint(
        &self,
        id: &CollectionId,
        endpoint_id: &str,
        change: &EndpointChange,
    ) -> Result<bool, Unavailable> {
        let exists = "attribute_exists(#cid) AND attribute_exists(#hooks.#id)";
        let (update, values): (&str, Vec<(&str, AttributeValue)>) = match change {
            EndpointChange::Disable { at, why } => (
                "SET #hooks.#id.disabledAt = :at, #hooks.#id.disabledWhy = :why",
                vec![(":at", s(at)), (":why", s(why))],
            ),
            EndpointChange::Enable => {
                ("REMOVE #hooks.#id.disabledAt, #hooks.#id.disabledWhy, #hooks.#id.failingSince", vec![])
            }
            EndpointChange::Rotate { secret_nonce, previous } => (
                "SET #hooks.#id.secretNonce = :nonce, #hooks.#id.previous = :previous",
                vec![(":nonce", s(secret_nonce)), (":previous", AttributeValue::M(to_item(previous)))],
            ),
            EndpointChange::Failing { since } => (
                "SET #hooks.#id.failingSince = if_not_exists(#hooks.#id.failingSince, :since)",
                vec![(":since", s(since))],
            ),
            EndpointChange::Recovered => ("REMOVE #hooks.#id.failingSince", vec![]),
        };
        self.update_webhooks(id, update, exists, values, Some(endpoint_id), CHANGE_WEBHOOK).await
    }

    async fn remove_endpoint(&self, id: &CollectionId, endpoint_id: &str) -> Result<bool, Unavailable> {
        self.update_webhooks(
            id,
            "REMOVE #hooks.#id",
            "attribute_exists(#cid) AND attribute_exists(#hooks.#id)",
            vec![],
            Some(endpoint_id),
            REMOVE_WEBHOOK,
        )
        .await
    }

    async fn raise_counter(&self, id: &CollectionId, highest: u64) -> Result<bool, Unavailable> {
        self.raise(id, highest).await
    }

    async fn raise_team_link_generation(&self, id: &CollectionId) -> Result<Option<u32>, Unavailable> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.collections)
            .key(collections::ID, s(id.as_str()))
            .update_expression("ADD teamLinkGeneration :one")
            .condition_expression(format!("attribute_exists({})", collections::ID))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.attributes.as_ref().and_then(|a| number_in(a, "teamLinkGeneration")).map(|g| g as u32)),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(None),
            Err(e) => Err(unavailable(TEAM_LINKS)(e)),
        }
    }

    async fn get_collection(&self, id: &CollectionId) -> Result<Option<Collection>, Unavailable> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.collections)
            .key(collections::ID, s(id.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable(GET_COLLECTION))?;
        out.item.map(|item| from_item(GET_COLLECTION, item)).transpose()
    }

    /// One conditional `ADD` (on a missing attribute it starts from 0, so the first ticket is 1), which also
    /// returns the collection for the ticket (`ALL_NEW`); on a refusal, the item as it was (`ALL_OLD`) says why.
    async fn take_number(&self, id: &CollectionId, limits: &RateLimits) -> Result<NumberTaken, Unavailable> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.collections)
            .key(collections::ID, s(id.as_str()))
            .update_expression("ADD lastTicketNumber :one")
            .condition_expression(format!(
                "attribute_exists({}) AND ticketingEnabled = :enabled \
                 AND rateLimits.perKey = :perKey AND rateLimits.perRequester = :perRequester \
                 AND rateLimits.newRequesters = :newRequesters",
                collections::ID
            ))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":enabled", AttributeValue::Bool(true))
            .expression_attribute_values(":perKey", n(limits.per_key))
            .expression_attribute_values(":perRequester", n(limits.per_requester))
            .expression_attribute_values(":newRequesters", n(limits.new_requesters))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let old = match result {
            Ok(out) => {
                let item = out
                    .attributes
                    .ok_or_else(|| Unavailable::new(TAKE_NUMBER, anyhow::anyhow!("no attributes returned")))?;
                return Ok(NumberTaken::Taken(from_item(TAKE_NUMBER, item)?));
            }
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => match e.into_err() {
                UpdateItemError::ConditionalCheckFailedException(c) => c.item.unwrap_or_default(),
                _ => Item::new(),
            },
            Err(e) => return Err(unavailable(TAKE_NUMBER)(e)),
        };
        if old.is_empty() {
            return Ok(NumberTaken::NotFound);
        }
        let stored_limits = old.get("rateLimits").cloned();
        let collection: Collection = from_item(TAKE_NUMBER, old)?;
        if !collection.ticketing_enabled {
            return Ok(NumberTaken::Disabled);
        }
        // An item written by hand may lack its limits, or hold only one: write them out as the item reads
        // (defaults for what is missing), so that the next take, conditioned on them, can succeed.
        if stored_limits.as_ref() != Some(&limits_value(&collection.rate_limits)) {
            self.write_limits(id, stored_limits, &collection.rate_limits).await?;
        }
        Ok(NumberTaken::LimitsChanged(collection.rate_limits))
    }
}

impl DynamoStore {
    /// The counter raised to `highest` if below it (or missing: a collection with no ticket yet).
    pub(super) async fn raise(&self, id: &CollectionId, highest: u64) -> Result<bool, Unavailable> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.collections)
            .key(collections::ID, s(id.as_str()))
            .update_expression("SET lastTicketNumber = :highest")
            .condition_expression(format!(
                "attribute_exists({}) AND (attribute_not_exists(lastTicketNumber) OR lastTicketNumber < :highest)",
                collections::ID
            ))
            .expression_attribute_values(":highest", n(highest))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(false),
            Err(e) => Err(unavailable(RAISE_COUNTER)(e)),
        }
    }

    /// Writes the limits out, unless an operator changed them since `seen` was read.
    async fn write_limits(
        &self,
        id: &CollectionId,
        seen: Option<AttributeValue>,
        limits: &RateLimits,
    ) -> Result<(), Unavailable> {
        let request = self
            .client
            .update_item()
            .table_name(&self.tables.collections)
            .key(collections::ID, s(id.as_str()))
            .update_expression("SET rateLimits = :limits")
            .expression_attribute_values(":limits", limits_value(limits));
        let request = match seen {
            None => request.condition_expression(format!(
                "attribute_exists({}) AND attribute_not_exists(rateLimits)",
                collections::ID
            )),
            Some(seen) => request
                .condition_expression(format!("attribute_exists({}) AND rateLimits = :seen", collections::ID))
                .expression_attribute_values(":seen", seen),
        };
        request.send().await.map(|_| ()).or_else(|e| match e.as_service_error() {
            // Gone in the meantime: the next take answers NotFound.
            Some(e) if e.is_conditional_check_failed_exception() => Ok(()),
            _ => Err(unavailable(TAKE_NUMBER)(e)),
        })
    }
}
