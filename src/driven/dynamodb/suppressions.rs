//! The suppression list: one item per address (lower-cased) that bounced for good or complained. Read before
//! every send; written from SES's events; listed and lifted by the operator.

use aws_sdk_dynamodb::error::SdkError;

use super::{DynamoStore, from_item, s, to_item, unavailable};
use crate::domain::{Email, Suppression};
use crate::ports::{SuppressionStore, Unavailable};
use crate::schema::suppressions;

const GET_SUPPRESSION: &str = "DynamoDB GetItem (suppressed address)";
const PUT_SUPPRESSION: &str = "DynamoDB PutItem (suppressed address)";
const DELETE_SUPPRESSION: &str = "DynamoDB DeleteItem (suppressed address)";
const LIST_SUPPRESSIONS: &str = "DynamoDB Scan (suppressed addresses)";

/// Addresses compare case-blind, as mail systems treat them.
fn address_key(address: &Email) -> String {
    address.as_str().to_ascii_lowercase()
}

/// The item with the address as it was first seen, not its lower-cased key.
fn shown(mut item: super::Item) -> super::Item {
    if let Some(shown) = item.remove("shownAs") {
        item.insert(suppressions::ADDRESS.into(), shown);
    }
    item
}

impl SuppressionStore for DynamoStore {
    async fn suppression(&self, address: &Email) -> Result<Option<Suppression>, Unavailable> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.suppressions)
            .key(suppressions::ADDRESS, s(address_key(address)))
            .send()
            .await
            .map_err(unavailable(GET_SUPPRESSION))?;
        out.item.map(|item| from_item(GET_SUPPRESSION, shown(item))).transpose()
    }

    async fn suppress(&self, suppression: &Suppression) -> Result<(), Unavailable> {
        let mut item = to_item(suppression);
        item.insert(suppressions::ADDRESS.into(), s(address_key(&suppression.address)));
        item.insert("shownAs".into(), s(suppression.address.as_str()));
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.suppressions)
            .set_item(Some(item))
            // The first reason stays: a second bounce of a suppressed address says nothing new.
            .condition_expression(format!("attribute_not_exists({})", suppressions::ADDRESS))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(()),
            Err(e) => Err(unavailable(PUT_SUPPRESSION)(e)),
        }
    }

    async fn lift_suppression(&self, address: &Email) -> Result<bool, Unavailable> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.tables.suppressions)
            .key(suppressions::ADDRESS, s(address_key(address)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable(DELETE_SUPPRESSION))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn suppressions(&self) -> Result<Vec<Suppression>, Unavailable> {
        let mut pages = self.client.scan().table_name(&self.tables.suppressions).into_paginator().items().send();
        let mut all = Vec::new();
        while let Some(item) = pages.next().await {
            all.push(from_item(LIST_SUPPRESSIONS, shown(item.map_err(unavailable(LIST_SUPPRESSIONS))?))?);
        }
        all.sort_by(|a: &Suppression, b| a.at.cmp(&b.at));
        Ok(all)
    }
}
