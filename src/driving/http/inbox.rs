//! `/inbox/{collectionId}?key=`: a member's inbox, as a page without script (`templates/inbox.html`) or as JSON,
//! and its bulk form (each ticket's change made as if alone, then back to the page, 303).

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::domain::Email;
use crate::domain::conversation::{ListCursor, readable_time};
use crate::domain::email_address::MAX_EMAIL_CHARS;
use crate::ports::Ports;
use crate::service::{BulkAction, ConversationError, Inbox, InboxRequest, InboxView, MAX_BULK};

use super::Service;
use super::error::ApiError;
use super::page::STYLE;
use super::respond::{html, json, problem, see_other, wants_json};

/// The query of an inbox page.
#[derive(Deserialize, Default)]
pub struct InboxQuery {
    key: Option<String>,
    view: Option<String>,
    cursor: Option<String>,
    find: Option<String>,
    /// After a bulk post: how many tickets changed, were unchanged, were refused.
    done: Option<String>,
}

impl InboxQuery {
    fn request(&self) -> Result<InboxRequest, ApiError> {
        let view =
            match self.view.as_deref() {
                None => None,
                Some(raw) => Some(InboxView::parse(raw).ok_or(ApiError::InvalidQuery {
                    detail: "view must be mine, unassigned, open, resolved or closed",
                })?),
            };
        let cursor = match self.cursor.as_deref() {
            None => None,
            Some(raw) => Some(
                ListCursor::decode(raw).ok_or(ApiError::InvalidQuery { detail: "cursor is not one this API gave" })?,
            ),
        };
        if self.find.as_deref().is_some_and(|f| f.chars().count() > MAX_EMAIL_CHARS) {
            return Err(ApiError::InvalidQuery { detail: "find is a ticket number or a requester's address" });
        }
        Ok(InboxRequest { view, cursor, find: self.find.clone() })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Row<'a> {
    ticket_number: u64,
    title: &'a str,
    status: &'static str,
    user_email: &'a str,
    assignee: Option<&'a str>,
    last_activity_at: &'a str,
    /// `team` when the requester spoke last, else `requester`.
    waiting_on: &'static str,
    entries: u32,
    /// The ticket's team link for this member.
    url: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InboxBody<'a> {
    view: &'static str,
    member: &'a str,
    tickets: Vec<Row<'a>>,
    next_cursor: Option<String>,
}

fn rows(inbox: &Inbox) -> Vec<Row<'_>> {
    inbox
        .tickets
        .iter()
        .zip(&inbox.links)
        .map(|(t, url)| Row {
            ticket_number: t.ticket_number,
            title: t.title.as_str(),
            status: t.status.as_str(),
            user_email: t.user_email.as_str(),
            assignee: t.assignee.as_ref().map(|m| m.as_str()),
            last_activity_at: &t.last_activity_at,
            waiting_on: t.waiting_on().as_str(),
            entries: t.entries,
            url,
        })
        .collect()
}

/// A row of the page.
struct RowView<'a> {
    row: Row<'a>,
    mine: bool,
    last_activity: String,
}

#[derive(askama::Template)]
#[template(path = "inbox.html")]
struct InboxPage<'a> {
    style: &'static str,
    collection: &'a str,
    collection_id: &'a str,
    key: &'a str,
    member: &'a str,
    view: &'static str,
    views: Vec<(&'static str, &'static str, String)>,
    find: &'a str,
    rows: Vec<RowView<'a>>,
    members: Vec<&'a str>,
    next_link: Option<String>,
    action: String,
    notice: Option<String>,
}

fn render(inbox: &Inbox, key: &str, done: Option<&str>) -> String {
    let id = inbox.collection.collection_id.as_str();
    let base = format!("{id}?key={key}");
    let views = InboxView::ALL
        .into_iter()
        .map(|v| {
            let label = match v {
                InboxView::Mine => "Mine",
                InboxView::Unassigned => "Unassigned",
                InboxView::Open => "Open",
                InboxView::Resolved => "Resolved",
                InboxView::Closed => "Closed",
            };
            (v.as_str(), label, format!("{base}&view={}", v.as_str()))
        })
        .collect();
    let notice = done.and_then(|d| {
        let mut n = d.split(',').map(|p| p.parse::<usize>().ok());
        let (changed, unchanged, refused) = (n.next()??, n.next()??, n.next()??);
        Some(format!("{changed} changed, {unchanged} already so, {refused} refused."))
    });
    use askama::Template;
    InboxPage {
        style: STYLE,
        collection: inbox.collection.name.as_str(),
        collection_id: id,
        key,
        member: inbox.member.as_str(),
        view: inbox.view.as_str(),
        views,
        find: inbox.find.as_deref().unwrap_or_default(),
        rows: rows(inbox)
            .into_iter()
            .map(|row| RowView {
                mine: row.assignee.is_some_and(|a| a.eq_ignore_ascii_case(inbox.member.as_str())),
                last_activity: readable_time(row.last_activity_at),
                row,
            })
            .collect(),
        members: inbox.collection.notify_emails.iter().map(|m| m.as_str()).collect(),
        next_link: inbox.next.as_ref().map(|c| format!("{base}&view={}&cursor={}", inbox.view.as_str(), c.encode())),
        action: format!("{base}&view={}", inbox.view.as_str()),
        notice,
    }
    .render()
    .expect("the inbox page renders")
}

/// `GET /inbox/{collectionId}?key=…&view=…&cursor=…&find=…`: a page of the member's inbox (JSON with
/// `Accept: application/json`). A wrong key and a missing collection are one 404.
pub async fn show<P: Ports>(
    State(service): Service<P>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<InboxQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let Ok(Path(collection)) = path else { return problem(ApiError::NotFound) };
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let Some(key) = query.key.clone() else { return problem(ApiError::NotFound) };
    let request = match query.request() {
        Ok(r) => r,
        Err(e) => return problem(e),
    };
    let inbox = match service.inbox(&collection, &key, request).await {
        Ok(inbox) => inbox,
        Err(e) => return problem(e),
    };
    if wants_json(&headers) {
        let body = InboxBody {
            view: inbox.view.as_str(),
            member: inbox.member.as_str(),
            tickets: rows(&inbox),
            next_cursor: inbox.next.as_ref().map(ListCursor::encode),
        };
        return json(StatusCode::OK, &body);
    }
    html(StatusCode::OK, render(&inbox, &key, query.done.as_deref()))
}

/// `POST /inbox/{collectionId}?key=…&view=…`: the page's bulk form, `ticket=N` for each ticket checked and
/// `action=assign-me|assign|resolve|close` (`assignee=` for assign); 303 back to the view, saying what was done.
pub async fn bulk<P: Ports>(
    State(service): Service<P>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<InboxQuery>, QueryRejection>,
    body: Bytes,
) -> Response {
    let Ok(Path(collection)) = path else { return problem(ApiError::NotFound) };
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let Some(key) = query.key.clone() else { return problem(ApiError::NotFound) };
    let (numbers, action) = match bulk_form(&body) {
        Ok(parsed) => parsed,
        Err(detail) => return problem(ApiError::InvalidQuery { detail }),
    };
    match service.inbox_bulk(&collection, &key, &numbers, action).await {
        Ok(done) => {
            let view = query.view.as_deref().and_then(InboxView::parse).unwrap_or(InboxView::Open);
            let counts = format!("{},{},{}", done.changed.len(), done.unchanged.len(), done.refused.len());
            let base = service.public_base_url();
            see_other(&format!("{base}/inbox/{collection}?key={key}&view={}&done={counts}", view.as_str()))
        }
        Err(ConversationError::InvalidQuery(detail)) => problem(ApiError::InvalidQuery { detail }),
        Err(e) => problem(e),
    }
}

/// The bulk form: `ticket` (each a ticket number, at most 50), `action`, and for `assign` an `assignee` (a
/// member's address, empty for nobody). Anything else is refused whole, nothing changed.
fn bulk_form(body: &[u8]) -> Result<(Vec<u64>, BulkAction), &'static str> {
    let fields: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let field = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let mut numbers = Vec::new();
    for (_, value) in fields.iter().filter(|(n, _)| n == "ticket") {
        numbers.push(value.parse::<u64>().ok().filter(|n| *n >= 1).ok_or("each ticket is a ticket number")?);
    }
    if numbers.len() > MAX_BULK {
        return Err("at most 50 tickets at once");
    }
    let assignee = field("assignee").map(str::trim);
    if assignee.is_some_and(|a| a.chars().count() > MAX_EMAIL_CHARS) {
        return Err("assignee must be a member's address");
    }
    let action = match (field("action"), assignee) {
        (Some("resolve"), _) => BulkAction::Resolve,
        (Some("close"), _) => BulkAction::Close,
        (Some("assign"), Some("") | None) => BulkAction::Assign(None),
        (Some("assign"), Some(raw)) => {
            BulkAction::Assign(Some(Email::parse(raw).map_err(|_| "assignee must be a member's address")?))
        }
        (Some("assign-me"), _) => BulkAction::AssignToMe,
        _ => return Err("action must be assign-me, assign, resolve or close"),
    };
    Ok((numbers, action))
}
