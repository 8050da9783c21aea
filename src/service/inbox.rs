//! The team's inbox: a page of a collection's tickets for one member, opened with the member's inbox key (every
//! team e-mail carries it). Views (mine, unassigned, open, resolved, closed), newest activity first, a page at a
//! time; finding a ticket by number or requester; and bulk actions, each ticket's change made as the member's
//! own team link of that ticket would make it, so that it is checked and counted as if made alone.

use crate::domain::conversation::{AssignRequest, ListCursor, StatusRequest};
use crate::domain::{Collection, CollectionId, Email, RateCount, Role, Ticket, TicketStatus};
use crate::ports::{CollectionStore, Counted, LimitStore, Ports, TicketStore, Unavailable};
use crate::service::TicketService;
use crate::telemetry;

use super::conversation::{ConversationError, Opened};

/// Rows of an inbox page: far under a Lambda response's 6 MB (a row is at most a few kilobytes).
pub const INBOX_PAGE: usize = 50;
/// Pages of 100 tickets read at most to fill a filtered view's page or to find a requester's tickets: a
/// request's reads stay bounded however large the collection (a filtered page may then be short, with a cursor).
pub const MAX_PAGES_READ: usize = 10;
/// Inbox views and bulk posts per member and hour.
pub const INBOX_PER_HOUR: u32 = 1_000;
/// Tickets one bulk post changes at most: a page's.
pub const MAX_BULK: usize = INBOX_PAGE;

/// Which tickets an inbox page lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboxView {
    /// Open tickets assigned to the member.
    Mine,
    /// Open tickets assigned to nobody.
    Unassigned,
    Open,
    Resolved,
    Closed,
}

impl InboxView {
    pub const ALL: [InboxView; 5] =
        [InboxView::Mine, InboxView::Unassigned, InboxView::Open, InboxView::Resolved, InboxView::Closed];

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == raw)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            InboxView::Mine => "mine",
            InboxView::Unassigned => "unassigned",
            InboxView::Open => "open",
            InboxView::Resolved => "resolved",
            InboxView::Closed => "closed",
        }
    }

    fn status(self) -> TicketStatus {
        match self {
            InboxView::Resolved => TicketStatus::Resolved,
            InboxView::Closed => TicketStatus::Closed,
            _ => TicketStatus::Open,
        }
    }

    fn lists(self, ticket: &Ticket, member: &Email) -> bool {
        match self {
            InboxView::Mine => {
                ticket.assignee.as_ref().is_some_and(|a| a.as_str().eq_ignore_ascii_case(member.as_str()))
            }
            InboxView::Unassigned => ticket.assignee.is_none(),
            _ => true,
        }
    }
}

/// What an inbox page asks: a view and where it starts, or a ticket to find (a number, or a requester's address).
#[derive(Debug, Clone, Default)]
pub struct InboxRequest {
    pub view: Option<InboxView>,
    pub cursor: Option<ListCursor>,
    pub find: Option<String>,
}

/// A page of the inbox, for its member.
#[derive(Debug, Clone)]
pub struct Inbox {
    pub collection: Collection,
    pub member: Email,
    pub view: InboxView,
    /// What was looked for, when the page is a search's.
    pub find: Option<String>,
    pub tickets: Vec<Ticket>,
    /// Each ticket's team link for the member, in the same order.
    pub links: Vec<String>,
    pub next: Option<ListCursor>,
}

/// A bulk action of the inbox's form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkAction {
    /// To the member whose inbox it is.
    AssignToMe,
    Assign(Option<Email>),
    Resolve,
    Close,
}

/// What a bulk action did: per ticket, whether it changed, or why not.
#[derive(Debug, Default)]
pub struct BulkDone {
    pub changed: Vec<u64>,
    pub unchanged: Vec<u64>,
    pub refused: Vec<(u64, ConversationError)>,
}

impl<P: Ports> TicketService<P> {
    /// The member whose inbox key `key` is, with the collection; counted against the member's hourly views.
    async fn inbox_member(&self, collection: &str, key: &str) -> Result<(Collection, Email), ConversationError> {
        let id = CollectionId::parse(collection).ok_or(ConversationError::NotFound)?;
        let collection = self.store().get_collection(&id).await?.ok_or(ConversationError::NotFound)?;
        let pepper = self.pepper().await?;
        let member = collection.inbox_holder(pepper, key).ok_or(ConversationError::NotFound)?;
        let (entry, resets_in) = RateCount::inbox_views(&id, member.as_str(), self.now().secs());
        if let Counted::Refused(_) = self.store().count(&entry, INBOX_PER_HOUR).await? {
            return Err(ConversationError::RateLimited { limit: INBOX_PER_HOUR, resets_in, policy: "inbox" });
        }
        Ok((collection, member))
    }

    /// A page of the member's inbox.
    pub async fn inbox(&self, collection: &str, key: &str, request: InboxRequest) -> Result<Inbox, ConversationError> {
        let (collection, member) = self.inbox_member(collection, key).await?;
        let view = request.view.unwrap_or(InboxView::Open);
        let id = collection.collection_id.clone();
        let (tickets, next) = match request.find.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
            Some(find) => (self.find_tickets(&id, find).await?, None),
            None => self.view_page(&id, view, &member, request.cursor).await?,
        };
        telemetry::inbox_viewed(view.as_str());
        let find = request.find.filter(|f| !f.trim().is_empty());
        let pepper = self.pepper().await?;
        let links = tickets
            .iter()
            .map(|t| self.team_url(pepper, &collection, t.ticket_number, &t.team_key_nonce, Some(&member)))
            .collect();
        Ok(Inbox { collection, member, view, find, tickets, links, next })
    }

    /// A view's page: the status's tickets, newest activity first, those the view lists.
    async fn view_page(
        &self,
        id: &CollectionId,
        view: InboxView,
        member: &Email,
        cursor: Option<ListCursor>,
    ) -> Result<(Vec<Ticket>, Option<ListCursor>), ConversationError> {
        let filtered = matches!(view, InboxView::Mine | InboxView::Unassigned);
        let page = self.filtered_page(id, view.status(), INBOX_PAGE, cursor, filtered, |t| view.lists(t, member));
        Ok(page.await?)
    }

    /// Up to `limit` of a status's tickets that `keep` keeps, newest activity first, read a page at a time until
    /// the page is full or `MAX_PAGES_READ` pages were read (`filtered`: read pages of 100, most are left out);
    /// and where the next page starts, if anything may follow.
    pub(super) async fn filtered_page(
        &self,
        id: &CollectionId,
        status: TicketStatus,
        limit: usize,
        mut cursor: Option<ListCursor>,
        filtered: bool,
        keep: impl Fn(&Ticket) -> bool,
    ) -> Result<(Vec<Ticket>, Option<ListCursor>), Unavailable> {
        let mut rows = Vec::new();
        for _ in 0..MAX_PAGES_READ {
            let read = if filtered { 100 } else { limit - rows.len() };
            let page = self.store().list_page(id, status, read, cursor.as_ref()).await?;
            let mut more = page.next;
            let mut tickets = page.tickets.into_iter().filter(|t| keep(t)).peekable();
            while let Some(ticket) = tickets.next_if(|_| rows.len() < limit) {
                rows.push(ticket);
            }
            // Full with more kept in this page: the next page starts after the last one taken.
            if tickets.peek().is_some() {
                let last: &Ticket = rows.last().expect("a full page");
                more = Some(ListCursor {
                    last_activity_at: last.last_activity_at.clone(),
                    ticket_number: last.ticket_number,
                });
            }
            cursor = more;
            if rows.len() == limit || cursor.is_none() {
                break;
            }
        }
        Ok((rows, cursor))
    }

    /// The tickets a search finds: the one of that number, or a requester's (case-blind), newest activity first,
    /// among the newest `MAX_PAGES_READ` pages of each status.
    async fn find_tickets(&self, id: &CollectionId, find: &str) -> Result<Vec<Ticket>, ConversationError> {
        if let Ok(number) = find.trim_start_matches('#').parse::<u64>() {
            return Ok(self.store().get_ticket(id, number).await?.into_iter().collect());
        }
        let mut found = Vec::new();
        for status in TicketStatus::ALL {
            let theirs = |t: &Ticket| t.user_email.as_str().eq_ignore_ascii_case(find);
            found.extend(self.filtered_page(id, status, INBOX_PAGE, None, true, theirs).await?.0);
        }
        found.sort_by(|a, b| b.last_activity_at.cmp(&a.last_activity_at));
        found.truncate(INBOX_PAGE);
        Ok(found)
    }

    /// One bulk action on the tickets numbered `numbers`, each made as the member's own team link of that ticket
    /// would make it: checked and counted as if made alone, with its entry, e-mails and webhooks.
    pub async fn inbox_bulk(
        &self,
        collection: &str,
        key: &str,
        numbers: &[u64],
        action: BulkAction,
    ) -> Result<BulkDone, ConversationError> {
        let (collection, member) = self.inbox_member(collection, key).await?;
        if numbers.len() > MAX_BULK {
            return Err(ConversationError::InvalidQuery("at most 50 tickets at once"));
        }
        let mut done = BulkDone::default();
        for &number in numbers {
            let Some(ticket) = self.store().get_ticket(&collection.collection_id, number).await? else {
                done.refused.push((number, ConversationError::NotFound));
                continue;
            };
            // As the member's own team link of this ticket opens it: the rest is the single change's own path.
            let opened = Opened {
                ticket,
                role: Role::Team,
                via_link: true,
                collection: Some(collection.clone()),
                by: Some(member.clone()),
            };
            let changed = match &action {
                BulkAction::AssignToMe | BulkAction::Assign(_) => {
                    let assignee = match &action {
                        BulkAction::Assign(to) => to.clone(),
                        _ => Some(member.clone()),
                    };
                    self.assign_as(opened, Ok(AssignRequest { assignee })).await.map(|a| a.changed)
                }
                BulkAction::Resolve | BulkAction::Close => {
                    let status =
                        if action == BulkAction::Resolve { TicketStatus::Resolved } else { TicketStatus::Closed };
                    let request = Ok(StatusRequest { status, notify_requester: false });
                    self.set_status_as(opened, request).await.map(|s| s.changed)
                }
            };
            match changed {
                Ok(true) => done.changed.push(number),
                Ok(false) => done.unchanged.push(number),
                Err(ConversationError::Unavailable(e)) => return Err(e.into()),
                Err(e) => done.refused.push((number, e)),
            }
        }
        tracing::info!(collection = %collection.collection_id, changed = done.changed.len(),
            unchanged = done.unchanged.len(), refused = done.refused.len(), "inbox bulk action");
        Ok(done)
    }
}
