//! A ticket's page: the view model the template (`templates/ticket.html`, where all its wording is) renders, made
//! from a conversation as its viewer's role sees it. Escaped by askama; no script.

use askama::Template;

use crate::domain::attachment::readable_size;
use crate::domain::conversation::readable_time;
use crate::domain::{Email, Entry, Role, TicketStatus};
use crate::service::Conversation;

pub(super) const STYLE: &str = include_str!("../../../templates/ticket.css");

/// One entry of the thread as shown.
struct EntryView<'a> {
    seq: u32,
    at: &'a str,
    when: String,
    /// Written by the viewer: the requester's own entries, or a member's own ("You").
    mine: bool,
    /// (For the team) the member who wrote a team entry, when a member did.
    member: Option<&'a str>,
    /// An assignment: to whom (`Some(None)`: to nobody).
    assigned: Option<Option<&'a str>>,
    /// `requester` or `team`: who wrote it, and its class.
    author: &'static str,
    message: Option<&'a str>,
    /// The status it moved the ticket to, and whether a reply did it (a requester's reply opens a resolved one).
    status: Option<&'static str>,
    by_reply: bool,
    by_email: Option<ByEmailView<'a>>,
    files: Vec<FileView<'a>>,
}

/// A file under its message: its name, its size as people read it, and its download link (relative, with the
/// viewer's credential).
struct FileView<'a> {
    name: &'a str,
    size: String,
    link: String,
}

/// A reply that came by e-mail: from whom (for the team), whether it was cut, and its attachments left out.
struct ByEmailView<'a> {
    from: Option<&'a str>,
    truncated: bool,
    /// For the team: the sender's domain did not vouch for it.
    unauthenticated: bool,
    left_out: Vec<(&'a str, u64)>,
    more_left_out: u32,
}

/// A status the viewer may set: `resolve`, `close` or `reopen` (the template words each).
struct Action {
    status: &'static str,
    id: &'static str,
}

#[derive(Template)]
#[template(path = "ticket.html")]
struct Page<'a> {
    style: &'static str,
    team: bool,
    collection: &'a str,
    number: u64,
    title: &'a str,
    status: &'static str,
    opened: String,
    created_at: &'a str,
    last_activity: String,
    last_activity_at: &'a str,
    requester: &'a str,
    tags: Vec<(&'a str, String)>,
    entries: Vec<EntryView<'a>>,
    /// A refusal to show above the form, and the text the person had written.
    notice: Option<String>,
    draft: &'a str,
    can_reply: bool,
    closed: bool,
    resolved: bool,
    actions: Vec<Action>,
    /// Where the forms post: relative, so that a stage or a custom domain in front keeps working.
    messages_action: String,
    status_action: String,
    /// Where the team's form that revokes the ticket's links posts.
    links_action: String,
    /// (For the team) who owns the ticket, whom it may go to, who is looking, and where the form posts.
    assignee: Option<&'a str>,
    members: Vec<&'a str>,
    viewer: Option<&'a str>,
    assign_action: String,
    /// The page of earlier entries, and the newest page when this is an earlier one (relative links).
    earlier_link: Option<String>,
    newest_link: Option<String>,
    /// Which entries this page shows (first, last), of how many, when it is not the whole thread.
    shown: Option<(u32, u32, u32)>,
}

impl<'a> EntryView<'a> {
    fn of(e: &'a Entry, (viewer, member): (Role, Option<&Email>), number: u64, query: &str) -> Self {
        EntryView {
            seq: e.seq,
            at: &e.at,
            when: readable_time(&e.at),
            // The team as a whole (an API key, the shared link) sees every team entry as its own.
            mine: e.author == viewer && (member.is_none() || e.by.as_ref() == member),
            member: e.by.as_ref().filter(|_| viewer == Role::Team).map(|m| m.as_str()),
            assigned: e.assigned.as_ref().map(|a| a.to.as_ref().map(|m| m.as_str())),
            author: e.author.as_str(),
            message: e.message.as_ref().map(|m| m.as_str()),
            status: e.status.map(TicketStatus::as_str),
            by_reply: e.message.is_some(),
            by_email: e.by_email.as_ref().map(|b| ByEmailView {
                from: (viewer == Role::Team).then(|| b.from.as_str()),
                truncated: b.truncated,
                unauthenticated: viewer == Role::Team && b.unauthenticated,
                left_out: b.left_out.iter().map(|a| (a.name.as_str(), a.size)).collect(),
                more_left_out: b.more_left_out,
            }),
            files: e
                .attachments
                .iter()
                .map(|f| FileView {
                    name: &f.file_name,
                    size: readable_size(f.size),
                    link: format!("{number}/attachments/{}?{query}", f.id),
                })
                .collect(),
        }
    }
}

/// The statuses a role may set from a ticket's status.
fn actions(team: bool, status: TicketStatus) -> Vec<Action> {
    let resolve = Action { status: TicketStatus::Resolved.as_str(), id: "resolve" };
    let close = Action { status: TicketStatus::Closed.as_str(), id: "close" };
    let reopen = Action { status: TicketStatus::Open.as_str(), id: "reopen" };
    match (team, status) {
        (false, TicketStatus::Open) => vec![resolve],
        (false, _) => vec![],
        (true, TicketStatus::Open) => vec![resolve, close],
        (true, TicketStatus::Resolved) => vec![reopen, close],
        (true, TicketStatus::Closed) => vec![reopen],
    }
}

/// The page of a conversation for the credential `query` brings back, with a refusal's reason and the text that
/// was written, if any.
pub(super) fn render(c: &Conversation, query: &str, notice: Option<String>, draft: &str) -> String {
    let t = &c.ticket;
    let team = c.role == Role::Team;
    let tags =
        c.first.as_ref().map(|e| e.tags.iter().map(|(k, v)| (k.as_str(), v.to_string())).collect()).unwrap_or_default();
    let newest = c.thread.last().is_none_or(|e| e.seq >= t.entries);
    let shown = match (c.thread.first(), c.thread.last()) {
        (Some(first), Some(last)) if first.seq > 1 || !newest => Some((first.seq, last.seq, t.entries)),
        _ => None,
    };
    Page {
        style: STYLE,
        team,
        collection: t.collection_name.as_str(),
        number: t.ticket_number,
        title: t.title.as_str(),
        status: t.status.as_str(),
        opened: readable_time(&t.created_at),
        created_at: &t.created_at,
        last_activity: readable_time(&t.last_activity_at),
        last_activity_at: &t.last_activity_at,
        requester: t.user_email.as_str(),
        tags,
        entries: c
            .thread
            .iter()
            .map(|e| EntryView::of(e, (c.role, c.viewer.as_ref()), t.ticket_number, query))
            .collect(),
        notice,
        draft,
        can_reply: t.status != TicketStatus::Closed,
        closed: t.status == TicketStatus::Closed,
        resolved: t.status == TicketStatus::Resolved,
        actions: actions(team, t.status),
        messages_action: format!("{}/messages?{query}", t.ticket_number),
        status_action: format!("{}/status?{query}", t.ticket_number),
        links_action: format!("{}/links?{query}", t.ticket_number),
        assignee: t.assignee.as_ref().filter(|_| team).map(|m| m.as_str()),
        members: c.members.iter().map(|m| m.as_str()).collect(),
        viewer: c.viewer.as_ref().map(|m| m.as_str()),
        assign_action: format!("{}/assignee?{query}", t.ticket_number),
        earlier_link: c.earlier.map(|before| format!("{}?{query}&before={before}#thread", t.ticket_number)),
        newest_link: (!newest).then(|| format!("{}?{query}#thread", t.ticket_number)),
        shown,
    }
    .render()
    .expect("the ticket page renders")
}
