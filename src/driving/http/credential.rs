//! The credential a request about a ticket brings, which decides its role: `x-api-key` (the team, through the
//! API), `?teamKey=` (the team, through its e-mails' link), `?key=` (the requester); and the query that brings the
//! same credential back to the page.

use axum::http::HeaderMap;
use serde::Deserialize;

use super::error::ApiError;
use super::tickets::single;
use crate::service::Credential;

/// The credentials a link carries in its query, and which page of the thread it asks for.
#[derive(Deserialize, Default)]
pub struct Keys {
    key: Option<String>,
    #[serde(rename = "teamKey")]
    team_key: Option<String>,
    /// The page of the thread that ends before this entry (the newest page without it).
    before: Option<String>,
}

impl Keys {
    /// `?before=`: absent, or an entry number from 1.
    pub(super) fn before(&self) -> Result<Option<u32>, ApiError> {
        match &self.before {
            None => Ok(None),
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .map(Some)
                .ok_or(ApiError::InvalidQuery { detail: "before must be an entry number, from 1" }),
        }
    }
}

/// The credential of a request: an API key header wins, then the team key, then the requester's key.
/// None when the request carries no credential at all: a 401 that says which ones there are (it tells nothing
/// about any ticket); a credential that is present but wrong is the 404 of a missing ticket.
pub(super) fn credential<'a>(headers: &'a HeaderMap, keys: &'a Keys) -> Result<Credential<'a>, ApiError> {
    if headers.contains_key("x-api-key") {
        return Ok(Credential::ApiKey(single(headers, "x-api-key")));
    }
    match (&keys.team_key, &keys.key) {
        (Some(team), _) => Ok(Credential::TeamKey(team)),
        (None, Some(key)) => Ok(Credential::TicketKey(key)),
        (None, None) => Err(ApiError::NoCredential),
    }
}

/// The query string that brings the same credential back to the page (none for the API).
pub(super) fn link_query(credential: Credential<'_>) -> Option<String> {
    match credential {
        Credential::ApiKey(_) | Credential::Operator => None,
        Credential::TicketKey(key) => Some(format!("key={key}")),
        Credential::TeamKey(key) => Some(format!("teamKey={key}")),
    }
}
