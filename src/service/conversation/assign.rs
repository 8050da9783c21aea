//! A ticket's assignee: the member of the team who owns it. The team assigns (a member's link, an API key, the
//! operator); each change is a thread entry (who, to whom, when), a `ticket.assigned` webhook, and an e-mail to
//! the member assigned by someone else. While assigned, the requester's messages e-mail the assignee only.

use std::collections::BTreeMap;

use crate::domain::conversation::{AssignRequest, MAX_ENTRIES};
use crate::domain::outbox::{Mail, MailKey, MailKind};
use crate::domain::webhook::{Endpoint, EventType};
use crate::domain::webhook_delivery;
use crate::domain::{Assignment, Email, Entry, FieldCode, FieldError, InputError, Role, Ticket};
use crate::ports::{AppendWrite, Appended, CollectionStore, Ports, TicketStore, Unavailable};
use crate::service::TicketService;
use crate::telemetry;

use super::changes::room_for;
use super::{ATTEMPTS, ConversationError, Credential, Opened};

/// What an assignment did: the ticket's assignee now, and whether it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assigned {
    pub ticket_number: u64,
    pub assignee: Option<Email>,
    pub changed: bool,
}

impl<P: Ports> TicketService<P> {
    /// Assigns the ticket to a member of its collection's team, or to nobody. For the team only; an address that
    /// is not a member is refused (422, field `assignee`) and changes nothing; the assignee it has already is
    /// answered as done (`changed: false`). Through a link, it counts against the link's hourly limit.
    pub async fn assign(
        &self,
        collection: &str,
        number: &str,
        credential: Credential<'_>,
        request: Result<AssignRequest, InputError>,
    ) -> Result<Assigned, ConversationError> {
        let opened = self.open(collection, number, credential).await?;
        self.assign_as(opened, request).await
    }

    /// The same, on a ticket already opened.
    pub(in crate::service) async fn assign_as(
        &self,
        opened: Opened,
        request: Result<AssignRequest, InputError>,
    ) -> Result<Assigned, ConversationError> {
        if opened.role != Role::Team {
            return Err(ConversationError::Forbidden);
        }
        let request = request.map_err(ConversationError::Input)?;
        let collection = match &opened.collection {
            Some(c) => c.clone(),
            None => {
                self.store().get_collection(&opened.ticket.collection_id).await?.ok_or(ConversationError::NotFound)?
            }
        };
        let mut ticket = opened.ticket.clone();
        let assignee = match &request.assignee {
            None => None,
            Some(address) => Some(collection.member(address.as_str()).cloned().ok_or_else(|| {
                let why = "is not a member of the collection's team (its notification addresses)";
                ConversationError::Input(InputError::Invalid(vec![FieldError::new(
                    "assignee",
                    FieldCode::InvalidValue,
                    why,
                )]))
            })?),
        };
        if ticket.assignee == assignee {
            return Ok(Assigned { ticket_number: ticket.ticket_number, assignee, changed: false });
        }
        room_for(&ticket, MAX_ENTRIES)?;
        let counted = self.count_link_action(&opened, &collection.rate_limits).await?;
        let bound = opened.via_link.then_some(Role::Team);
        let result = self.write_assignment(&mut ticket, &collection.webhooks, assignee, opened.by, bound).await;
        if !matches!(result, Ok(Assigned { changed: true, .. })) {
            self.uncount_link_action(counted.as_ref()).await;
        }
        result
    }

    /// The assignment's entry, with its e-mail and webhooks, written if the ticket is still as read; read again
    /// and decided again if not.
    async fn write_assignment(
        &self,
        ticket: &mut Ticket,
        endpoints: &BTreeMap<String, Endpoint>,
        assignee: Option<Email>,
        by: Option<Email>,
        bound: Option<Role>,
    ) -> Result<Assigned, ConversationError> {
        for _ in 0..ATTEMPTS {
            if ticket.assignee == assignee {
                return Ok(Assigned { ticket_number: ticket.ticket_number, assignee, changed: false });
            }
            room_for(ticket, MAX_ENTRIES)?;
            let at = self.now();
            let now = at.rfc3339();
            let seq = ticket.entries + 1;
            let entry = Entry {
                assigned: Some(Assignment { to: assignee.clone(), from: ticket.assignee.clone() }),
                ..Entry::event(seq, now.clone(), Role::Team, by.clone())
            };
            // An assignment is no activity of the conversation: the lists' order and who is waited on stay.
            let mut after = ticket.after_entry(seq, Role::Team, &now, ticket.status);
            after.last_activity_at = ticket.last_activity_at.clone();
            after.assignee = assignee.clone();
            // The member assigned by someone else is told; who assigns themselves knows.
            let mail: Vec<Mail> = assignee
                .iter()
                .filter(|member| by.as_ref() != Some(*member))
                .map(|member| {
                    let key = MailKey {
                        collection_id: ticket.collection_id.clone(),
                        ticket_number: ticket.ticket_number,
                        entry: seq,
                        index: 0,
                    };
                    Mail::pending(key, MailKind::Assigned, Role::Team, member.clone(), now.clone(), self.due(at))
                })
                .collect();
            let webhooks = webhook_delivery::owed(
                endpoints,
                &after,
                seq,
                EventType::Assigned,
                Default::default(),
                &now,
                self.due(at),
            );
            let write =
                AppendWrite { before: ticket.clone(), after, entry, mail, webhooks, received: vec![], uploads: vec![] };
            match self.store().append(&write).await? {
                Appended::Stored => {
                    tracing::info!(collection = %ticket.collection_id, ticket = ticket.ticket_number, entry = seq,
                        assigned = assignee.is_some(), emails = write.mail.len(), "ticket assigned");
                    telemetry::assigned();
                    return Ok(Assigned { ticket_number: ticket.ticket_number, assignee, changed: true });
                }
                Appended::Moved => *ticket = self.reread(ticket, bound).await?,
                Appended::AlreadyRecorded | Appended::UploadUsed => {
                    unreachable!("an assignment records no received message and no upload")
                }
            }
        }
        Err(Unavailable::new("thread entry", anyhow::anyhow!("the ticket kept changing")).into())
    }
}
