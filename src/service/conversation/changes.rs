//! What changes a ticket's conversation, each in the order `conversation` gives (credential, body, rules, count,
//! one conditional write): a message, a status change, and new links.

use crate::domain::conversation::{LinkRoles, MAX_ENTRIES, MAX_MESSAGES_ENTRIES, Reply, StatusRequest};
use crate::domain::keys::key_nonce;
use crate::domain::members::recipients;
use crate::domain::webhook::EventType;
use crate::domain::webhook_delivery::{self, EventDetail};
use crate::domain::{
    ByEmail, Email, Entry, InputError, Occasion, Role, StatusMove, StatusRefusal, Ticket, TicketStatus,
    outbox::{new_link, owed},
};
use crate::ports::{AppendWrite, Appended, CollectionStore, OutboxStore, Ports, TicketStore, Unavailable};

use super::{ATTEMPTS, Added, ConversationError, Credential, Opened, Raised, Rotated, StatusSet};
use crate::service::TicketService;
use crate::service::attachments::{MessageFiles, Said, posted_files, ticket_full};
use crate::telemetry;

impl<P: Ports> TicketService<P> {
    /// Gives a ticket new links, of the roles asked for (both by default): those made before open nothing any
    /// more. For the team only (an API key, the team's link, the operator); the links as they are now. Whenever
    /// the requester's link changes, the requester is e-mailed the new one (written before the rotation, so that
    /// the requester is never cut off without a word).
    pub async fn rotate_links(
        &self,
        collection: &str,
        number: &str,
        credential: Credential<'_>,
        request: Result<LinkRoles, InputError>,
    ) -> Result<Rotated, ConversationError> {
        let opened = self.open(collection, number, credential).await?;
        let roles = request.map_err(ConversationError::Input)?;
        if opened.role != Role::Team {
            return Err(ConversationError::Forbidden);
        }
        let (_, limits) = self.limits_for(&opened).await?;
        let counted = self.count_link_action(&opened, &limits).await?;
        let ticket = &opened.ticket;
        let (key_nonce, team_key_nonce) = (roles.requester().then(key_nonce), roles.team().then(key_nonce));
        let (id, n) = (&ticket.collection_id, ticket.ticket_number);
        let rotated = async {
            if roles.requester() {
                let now = self.now();
                let told = new_link(ticket, &now.rfc3339(), now.secs(), self.due(now));
                self.store().add_mail(&told).await?;
            }
            self.store().rotate_keys(id, n, key_nonce.as_deref(), team_key_nonce.as_deref()).await
        }
        .await;
        if !matches!(rotated, Ok(true)) {
            self.uncount_link_action(counted.as_ref()).await;
        }
        if !rotated? {
            return Err(ConversationError::NotFound);
        }
        let pepper = self.pepper().await?;
        let collection = match &opened.collection {
            Some(c) => c.clone(),
            None => self.store().get_collection(id).await?.ok_or(ConversationError::NotFound)?,
        };
        tracing::info!(collection = %id, ticket = n, requester = roles.requester(), team = roles.team(),
            "ticket links rotated");
        let requester_nonce = key_nonce.as_deref().unwrap_or(&ticket.key_nonce);
        let team_nonce = team_key_nonce.as_deref().unwrap_or(&ticket.team_key_nonce);
        Ok(Rotated {
            ticket_number: n,
            private_url: self.private_url(pepper, id, n, requester_nonce),
            // A member's own new link; the team's shared one for an API key or the operator.
            team_url: self.team_url(pepper, &collection, n, team_nonce, opened.by.as_ref()),
        })
    }

    /// Adds a message by the credential's role. `reply` is the parsed body: its problems are reported after the
    /// credential was checked. Its files (uploads it references, files a page posted) are checked before anything
    /// is counted, and kept under the ticket before the entry is written.
    pub async fn add_message(
        &self,
        collection: &str,
        number: &str,
        credential: Credential<'_>,
        reply: Result<Reply, InputError>,
    ) -> Result<Added, ConversationError> {
        let opened = self.open(collection, number, credential).await?;
        let (mut ticket, role) = (opened.ticket.clone(), opened.role);
        let reply = reply.map_err(ConversationError::Input)?;
        ticket.status.after_message(role).map_err(refusal)?;
        room_for(&ticket, MAX_MESSAGES_ENTRIES)?;
        let (id, n) = (ticket.collection_id.clone(), ticket.ticket_number);
        let checked = self.check_uploads(&id, n, &reply.attachments).await?;
        let posted = posted_files(reply.posted, checked.len())?;
        let mut files = MessageFiles::from_uploads(&checked);
        files.files.extend(posted.iter().map(|(file, _)| file.clone()));
        if !files.fit(&ticket) {
            return Err(ConversationError::Input(ticket_full()));
        }
        // A requester's message goes to the team's addresses as they are now; replies through a link are limited
        // per ticket and hour, and a refused one counts nothing.
        let (team, counted) = match (role, opened.via_link) {
            (Role::Team, false) => (Vec::new(), None),
            _ => {
                let (team, limits) = self.limits_for(&opened).await?;
                let team = if role == Role::Requester { team } else { Vec::new() };
                (team, self.count_link_action(&opened, &limits).await?)
            }
        };
        let endpoints = self.endpoints_for(&opened).await?;
        let via = if opened.via_link { "web" } else { "api" };
        let raised = Raised { endpoints: &endpoints, via, by: opened.by.clone() };
        let bound = opened.via_link.then_some(role);
        let said = Said { text: reply.message, files };
        let result = async {
            self.keep_uploads(&id, n, &checked).await?;
            self.put_files(&id, n, posted).await?;
            match self.append_message(&mut ticket, role, said, &team, None, raised, bound).await? {
                Some(added) => Ok(added),
                None => unreachable!("only a message received by e-mail can be recorded already"),
            }
        }
        .await;
        match &result {
            Ok(added) => {
                telemetry::files_kept(added.entry.attachments.len());
                self.forget_uploads(&checked).await
            }
            Err(_) => self.uncount_link_action(counted.as_ref()).await,
        }
        result
    }

    /// Appends a message by `role` to `ticket` (read again and decided again if it changed meanwhile), with its
    /// files (already in the bucket) and the e-mails it owes to `team` or the requester; for a reply by e-mail,
    /// how it came and the received message's marks. `None`: that message is recorded already. `bound`: the role
    /// whose link (or reply address) the message came with: if the ticket's links of that role were rotated
    /// meanwhile, it is not recorded.
    #[allow(clippy::too_many_arguments)]
    pub(in crate::service) async fn append_message(
        &self,
        ticket: &mut Ticket,
        role: Role,
        said: Said,
        team: &[Email],
        received: Option<(ByEmail, Vec<String>)>,
        raised: Raised<'_>,
        bound: Option<Role>,
    ) -> Result<Option<Added>, ConversationError> {
        let (by_email, marks) = received.unzip();
        let marks = marks.unwrap_or_default();
        for _ in 0..ATTEMPTS {
            let status = ticket.status.after_message(role).map_err(refusal)?;
            room_for(ticket, MAX_MESSAGES_ENTRIES)?;
            if !said.files.fit(ticket) {
                return Err(ConversationError::Input(ticket_full()));
            }
            let at = self.now();
            let now = at.rfc3339();
            let seq = ticket.entries + 1;
            let reopened = (status != ticket.status).then_some(status);
            let entry = Entry {
                seq,
                at: now.clone(),
                author: role,
                message: Some(said.text.clone()),
                status: reopened,
                tags: Default::default(),
                by_email: by_email.clone(),
                attachments: said.files.files.clone(),
                by: raised.by.clone(),
                assigned: None,
            };
            let mut after = ticket.after_entry(seq, role, &now, status);
            after.last_message_by = Some(role);
            after.files += said.files.files.len() as u32;
            after.file_bytes += said.files.bytes();
            // While the ticket is assigned, the requester's message e-mails its assignee only.
            let mail = owed(&after, seq, role, Occasion::Message, &recipients(team, ticket), &now, self.due(at));
            let detail = EventDetail { via: Some(raised.via.to_owned()), ..Default::default() };
            let webhooks = webhook_delivery::owed(
                raised.endpoints,
                &after,
                seq,
                EventType::MessageCreated,
                detail,
                &now,
                self.due(at),
            );
            let write = AppendWrite {
                before: ticket.clone(),
                after,
                entry,
                mail,
                webhooks,
                received: marks.clone(),
                uploads: said.files.uploads.clone(),
            };
            match self.store().append(&write).await? {
                Appended::Stored => {
                    tracing::info!(collection = %ticket.collection_id, ticket = ticket.ticket_number, entry = seq,
                        author = role.as_str(), emails = write.mail.len(), by_email = !write.received.is_empty(),
                        "message added");
                    return Ok(Some(Added { entry: write.entry, status }));
                }
                Appended::AlreadyRecorded => return Ok(None),
                Appended::UploadUsed => return Err(ConversationError::Input(Self::upload_used())),
                Appended::Moved => *ticket = self.reread(ticket, bound).await?,
            }
        }
        Err(Unavailable::new("thread entry", anyhow::anyhow!("the ticket kept changing")).into())
    }

    /// Sets the status, as far as the credential's role may.
    pub async fn set_status(
        &self,
        collection: &str,
        number: &str,
        credential: Credential<'_>,
        request: Result<StatusRequest, InputError>,
    ) -> Result<StatusSet, ConversationError> {
        let opened = self.open(collection, number, credential).await?;
        self.set_status_as(opened, request).await
    }

    /// The same, on a ticket already opened.
    pub(in crate::service) async fn set_status_as(
        &self,
        opened: Opened,
        request: Result<StatusRequest, InputError>,
    ) -> Result<StatusSet, ConversationError> {
        let (mut ticket, role) = (opened.ticket.clone(), opened.role);
        let request = request.map_err(ConversationError::Input)?;
        // A change through a link (not a request for the status the ticket has) counts against its limit.
        let counted = match ticket.status.set_by(role, request.status).map_err(refusal)? {
            StatusMove::Changed(_) if opened.via_link => {
                room_for(&ticket, MAX_ENTRIES)?;
                let (_, limits) = self.limits_for(&opened).await?;
                self.count_link_action(&opened, &limits).await?
            }
            _ => None,
        };
        let endpoints = self.endpoints_for(&opened).await?;
        let bound = opened.via_link.then_some(role);
        let raised = Raised { endpoints: &endpoints, via: if opened.via_link { "web" } else { "api" }, by: opened.by };
        let result = self.change_status(&mut ticket, role, request, raised, bound).await;
        if !matches!(result, Ok(StatusSet { changed: true, .. })) {
            self.uncount_link_action(counted.as_ref()).await;
        }
        result
    }

    /// The status change, written if the ticket is still as read; read again and decided again if not.
    async fn change_status(
        &self,
        ticket: &mut Ticket,
        role: Role,
        request: StatusRequest,
        raised: Raised<'_>,
        bound: Option<Role>,
    ) -> Result<StatusSet, ConversationError> {
        for _ in 0..ATTEMPTS {
            let to = match ticket.status.set_by(role, request.status).map_err(refusal)? {
                StatusMove::Unchanged => return Ok(StatusSet { status: ticket.status, changed: false }),
                StatusMove::Changed(to) => to,
            };
            room_for(ticket, MAX_ENTRIES)?;
            let occasion = match to {
                TicketStatus::Resolved => Occasion::Resolved,
                TicketStatus::Closed => Occasion::Closed { tell_requester: request.notify_requester },
                TicketStatus::Open => Occasion::Reopened,
            };
            let team = match (occasion, role) {
                (Occasion::Resolved, Role::Requester) => recipients(&self.team_of(ticket).await?, ticket),
                _ => Vec::new(),
            };
            let at = self.now();
            let now = at.rfc3339();
            let seq = ticket.entries + 1;
            let entry = Entry { status: Some(to), ..Entry::event(seq, now.clone(), role, raised.by.clone()) };
            let after = ticket.after_entry(seq, role, &now, to);
            let mail = owed(&after, seq, role, occasion, &team, &now, self.due(at));
            let detail = EventDetail { from_status: Some(ticket.status), ..Default::default() };
            let webhooks = webhook_delivery::owed(
                raised.endpoints,
                &after,
                seq,
                EventType::StatusChanged,
                detail,
                &now,
                self.due(at),
            );
            let write =
                AppendWrite { before: ticket.clone(), after, entry, mail, webhooks, received: vec![], uploads: vec![] };
            match self.store().append(&write).await? {
                Appended::Stored => {
                    tracing::info!(collection = %ticket.collection_id, ticket = ticket.ticket_number, entry = seq,
                        author = role.as_str(), status = to.as_str(), emails = write.mail.len(), "status changed");
                    return Ok(StatusSet { status: to, changed: true });
                }
                Appended::Moved => *ticket = self.reread(ticket, bound).await?,
                Appended::AlreadyRecorded | Appended::UploadUsed => {
                    unreachable!("a status change records no received message and no upload")
                }
            }
        }
        Err(Unavailable::new("thread entry", anyhow::anyhow!("the ticket kept changing")).into())
    }
}

/// Whether the ticket takes one more entry under `most`.
pub(super) fn room_for(ticket: &Ticket, most: u32) -> Result<(), ConversationError> {
    match ticket.entries < most {
        true => Ok(()),
        false => Err(ConversationError::ThreadFull { most }),
    }
}

fn refusal(refusal: StatusRefusal) -> ConversationError {
    match refusal {
        StatusRefusal::Closed => ConversationError::Closed,
        StatusRefusal::NotAllowed => ConversationError::Forbidden,
    }
}
