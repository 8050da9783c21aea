//! Collections and their ticket counter, team link generation and webhook endpoints, as `dynamodb::collections`
//! conditions them.

use super::MemoryStore;
use crate::domain::webhook::{Endpoint, EndpointChange};
use crate::domain::{Collection, CollectionId, RateLimits};
use crate::ports::{CollectionStore, EndpointAdded, NumberTaken, Unavailable};

impl CollectionStore for MemoryStore {
    async fn get_collection(&self, id: &CollectionId) -> Result<Option<Collection>, Unavailable> {
        self.enter("get_collection")?;
        Ok(self.collection(id))
    }

    async fn add_endpoint(
        &self,
        id: &CollectionId,
        endpoint: &Endpoint,
        max: usize,
    ) -> Result<EndpointAdded, Unavailable> {
        self.enter("add_endpoint")?;
        let mut data = self.data();
        let Some(collection) = data.collections.get_mut(id) else { return Ok(EndpointAdded::NotFound) };
        if collection.webhooks.contains_key(&endpoint.id) || collection.webhooks.len() >= max {
            return Ok(EndpointAdded::Full);
        }
        collection.webhooks.insert(endpoint.id.clone(), endpoint.clone());
        Ok(EndpointAdded::Stored)
    }

    async fn change_endpoint(
        &self,
        id: &CollectionId,
        endpoint_id: &str,
        change: &EndpointChange,
    ) -> Result<bool, Unavailable> {
        self.enter("change_endpoint")?;
        let mut data = self.data();
        let Some(endpoint) = data.collections.get_mut(id).and_then(|c| c.webhooks.get_mut(endpoint_id)) else {
            return Ok(false);
        };
        *endpoint = endpoint.clone().changed(change);
        Ok(true)
    }

    async fn remove_endpoint(&self, id: &CollectionId, endpoint_id: &str) -> Result<bool, Unavailable> {
        self.enter("remove_endpoint")?;
        Ok(self.data().collections.get_mut(id).is_some_and(|c| c.webhooks.remove(endpoint_id).is_some()))
    }

    async fn raise_team_link_generation(&self, id: &CollectionId) -> Result<Option<u32>, Unavailable> {
        self.enter("raise_team_link_generation")?;
        Ok(self.data().collections.get_mut(id).map(|c| {
            c.team_link_generation += 1;
            c.team_link_generation
        }))
    }

    async fn raise_counter(&self, id: &CollectionId, highest: u64) -> Result<bool, Unavailable> {
        self.enter("raise_counter")?;
        Ok(match self.data().collections.get_mut(id) {
            Some(c) if c.last_ticket_number < highest => {
                c.last_ticket_number = highest;
                true
            }
            _ => false,
        })
    }

    async fn take_number(&self, id: &CollectionId, limits: &RateLimits) -> Result<NumberTaken, Unavailable> {
        self.enter("take_number")?;
        Ok(match self.data().collections.get_mut(id) {
            None => NumberTaken::NotFound,
            Some(c) if !c.ticketing_enabled => NumberTaken::Disabled,
            // As the DynamoDB condition: the three limits a create is counted against.
            Some(c)
                if (c.rate_limits.per_key, c.rate_limits.per_requester, c.rate_limits.new_requesters)
                    != (limits.per_key, limits.per_requester, limits.new_requesters) =>
            {
                NumberTaken::LimitsChanged(c.rate_limits)
            }
            Some(c) => {
                c.last_ticket_number += 1;
                NumberTaken::Taken(c.clone())
            }
        })
    }
}
