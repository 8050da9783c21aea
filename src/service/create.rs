//! Creating a ticket: the one place that orders its steps (the contract's order of checks).
//!
//! 1. the API key: well-formed with a valid checksum (no I/O), then its HMAC looked up; unknown or revoked → 401;
//! 2. the grant for this collection → 403;
//! 3. a refused body is reported only after the collection was checked (404 / 403 come first), and takes no number;
//! 4. with an `Idempotency-Key`, the key is claimed: a repeat replays the first answer and takes no number;
//! 5. the create is counted against both abuse limits, concurrently (a create past one → 429, nothing taken);
//! 6. one conditional increment takes the number, if the collection takes tickets under the limits counted;
//! 7. one transaction writes the ticket, its first entry, the e-mails it owes and the completed claim. The
//!    e-mails leave later, from the table's stream: a create waits on DynamoDB only.

use std::time::{Duration, Instant};

use crate::domain::keys::key_nonce;
use crate::domain::random::random_hex;
use crate::domain::webhook::EventType;
use crate::domain::{
    Collection, CollectionId, Entry, IdempotencyKey, IdempotencyRecord, IdempotencyState, InputError, NewTicket, Now,
    Occasion, Pepper, Policy, Quota, RateCount, RateLimits, Role, Ticket, TicketStatus, outbox::owed, webhook_delivery,
};
use crate::ports::{
    CollectionStore, Counted, IdempotencyStore, Inserted, LimitStore, NewTicketWrite, NumberTaken, Ports, TicketStore,
    Unavailable,
};
use crate::telemetry;

use super::TicketService;
use super::attachments::MessageFiles;

/// Why a create was refused. Each variant is one outcome of the contract; `http::error` maps them to statuses.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("missing, malformed, unknown or revoked API key")]
    Unauthorized,
    #[error("the API key is not granted this collection")]
    Forbidden,
    #[error("the collection does not exist")]
    CollectionNotFound,
    #[error("ticketing is turned off for this collection")]
    TicketingDisabled,
    #[error(transparent)]
    Input(InputError),
    #[error("the Idempotency-Key was used for a different request")]
    IdempotencyKeyReused,
    #[error("a request with this Idempotency-Key is still being processed")]
    IdempotencyInProgress,
    #[error("an abuse limit of this collection is used up")]
    RateLimited(Quota),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

/// A created ticket, as the caller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub ticket_number: u64,
    pub private_url: String,
    /// True when this answer replays an earlier create with the same `Idempotency-Key`.
    pub replayed: bool,
    /// The abuse limits with this create counted; none on a replay, which counts nothing.
    pub quota: Option<Quota>,
}

/// How often one create moves a counter that is behind its tickets (each time past the tickets the index shows).
const COUNTER_REPAIRS: usize = 2;
/// How far apart the clocks of two processes that numbered tickets one after the other may be.
const COUNTER_SKEW: Duration = Duration::from_secs(300);

/// How long a repeat waits for the first request with its key to finish before answering 409.
pub const IDEMPOTENCY_WAIT: Duration = Duration::from_secs(3);
const IDEMPOTENCY_POLL: Duration = Duration::from_millis(50);

/// What claiming an idempotency key gave.
enum Claim {
    /// This request owns the key: it creates the ticket, with a key derived from `nonce`.
    Owned { scope: String, nonce: String },
    /// An earlier request with the same key and body created this ticket.
    Replay(Created),
}

impl<P: Ports> TicketService<P> {
    /// The whole create path. `input` is the already-parsed body: its problems are reported in contract order.
    pub async fn create(
        &self,
        presented_key: Option<&str>,
        collection: &str,
        input: Result<NewTicket, InputError>,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<Created, CreateError> {
        let key = self.authenticate(presented_key).await?.ok_or(CreateError::Unauthorized)?;
        let collection_id =
            CollectionId::parse(collection).filter(|id| key.grants(id)).ok_or(CreateError::Forbidden)?;

        let input = match input {
            Ok(input) => input,
            Err(problem) => {
                // Collection problems outrank body problems; only this error path pays for the extra read.
                return Err(match self.store().get_collection(&collection_id).await? {
                    None => CreateError::CollectionNotFound,
                    Some(c) if !c.ticketing_enabled => CreateError::TicketingDisabled,
                    Some(_) => CreateError::Input(problem),
                });
            }
        };

        let pepper = self.pepper().await?;
        let claim = match idempotency {
            None => None,
            Some(idempotency) => match self.claim(&collection_id, &key.key_id, &idempotency, &input, pepper).await? {
                Claim::Replay(created) => return Ok(created),
                Claim::Owned { scope, nonce } => Some((scope, nonce)),
            },
        };
        let count = RateCount::new(
            &collection_id,
            &key.key_id,
            &pepper.requester_tag(input.requester.as_str()),
            self.now().secs(),
        );
        let result = self.create_ticket(collection_id, input, &count, pepper, claim.clone()).await;
        // Nothing was created: forget the claim, so that a retry with the same key can go ahead. Even after a
        // timeout this is safe: the ticket write completes the claim in the same transaction, so either it
        // landed (the claim is completed and the release, conditioned on "in progress", does nothing) or,
        // arriving later, it finds the claim gone and is refused whole.
        if let (Err(_), Some((scope, nonce))) = (&result, &claim)
            && let Err(e) = self.store().release_idempotency(scope, nonce).await
        {
            tracing::warn!(error = %e, "could not release an idempotency claim; it lapses with its lease");
        }
        result
    }

    async fn create_ticket(
        &self,
        collection_id: CollectionId,
        input: NewTicket,
        count: &RateCount,
        pepper: &Pepper,
        claim: Option<(String, String)>,
    ) -> Result<Created, CreateError> {
        // The files first: a bad upload is refused before anything is counted or taken.
        let checked = self.check_uploads(&collection_id, 0, &input.attachments).await?;
        let files = MessageFiles::from_uploads(&checked);
        let (mut collection, quota) = self.admit(&collection_id, count).await?;
        // The requester's key is derived from this nonce; an idempotent create uses its claim's, so that a replay
        // answers the same link.
        let nonce = claim.as_ref().map(|(_, nonce)| nonce.clone()).unwrap_or_else(key_nonce);
        let mut repaired = 0;
        loop {
            let number = collection.last_ticket_number;
            if let Err(refused) = self.keep_uploads(&collection_id, number, &checked).await {
                self.uncount(count, &Policy::ALL).await;
                return Err(refused.into());
            }
            let write = self.new_ticket_write(&collection, number, &input, &files, &nonce, claim.clone());
            // From here on the number is taken: a failure leaves a gap, never a duplicate (docs/api.md, "Decisions where the contract is silent"). A
            // write refused whole takes its counts back; one that may have landed unseen keeps them.
            let refused = match self.insert(&write).await? {
                Inserted::Stored => {
                    tracing::info!(collection = %collection_id, ticket = number, emails = write.mail.len(),
                        files = files.files.len(), "ticket created");
                    telemetry::files_kept(files.files.len());
                    self.forget_uploads(&checked).await;
                    let private_url = self.private_url(pepper, &collection_id, number, &nonce);
                    return Ok(Created { ticket_number: number, private_url, replayed: false, quota: Some(quota) });
                }
                // The counter is behind its tickets (a collections table restored from a backup): moved past
                // them, once, and the create takes the number after.
                Inserted::NumberInUse if repaired < COUNTER_REPAIRS => {
                    repaired += 1;
                    match self.repair_counter(&collection, number).await {
                        Ok(next) => {
                            collection = next;
                            continue;
                        }
                        Err(e) => e,
                    }
                }
                Inserted::NumberInUse => CreateError::Internal(anyhow::anyhow!(
                    "ticket {number} of {collection_id} already exists: the counter is behind the tickets"
                )),
                Inserted::ClaimLost => CreateError::IdempotencyInProgress,
                Inserted::UploadUsed => CreateError::Input(Self::upload_used()),
                Inserted::Conflict => CreateError::Unavailable(Unavailable::new(
                    "DynamoDB TransactWriteItems (new ticket)",
                    anyhow::anyhow!("the ticket's items kept being written by others"),
                )),
            };
            self.uncount(count, &Policy::ALL).await;
            return Err(refused);
        }
    }

    /// The ticket `number` of `collection`, its first entry, the e-mails it owes and the claim it completes.
    fn new_ticket_write(
        &self,
        collection: &Collection,
        number: u64,
        input: &NewTicket,
        files: &MessageFiles,
        nonce: &str,
        claim: Option<(String, String)>,
    ) -> NewTicketWrite {
        let at = self.now();
        let now = at.rfc3339();
        let id = collection.collection_id.clone();
        let mut ticket =
            Ticket::open(id, number, collection.name.clone(), input, nonce.to_owned(), key_nonce(), now.clone());
        ticket.files = files.files.len() as u32;
        ticket.file_bytes = files.bytes();
        let due = self.due(at);
        let mail = owed(&ticket, 1, Role::Requester, Occasion::Opened, &collection.notify_emails, &now, due);
        let created = EventType::TicketCreated;
        let webhooks = webhook_delivery::owed(&collection.webhooks, &ticket, 1, created, Default::default(), &now, due);
        let mut entry = Entry::first(input.clone(), now);
        entry.attachments = files.files.clone();
        NewTicketWrite { ticket, entry, mail, webhooks, completes: claim, uploads: files.uploads.clone() }
    }

    /// Writes a new ticket, trying again (twice) when another write to one of its items was under way.
    async fn insert(&self, write: &NewTicketWrite) -> Result<Inserted, Unavailable> {
        let mut inserted = self.store().insert_ticket(write).await?;
        for _ in 0..2 {
            if inserted != Inserted::Conflict {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            inserted = self.store().insert_ticket(write).await?;
        }
        Ok(inserted)
    }

    /// Moves the counter of a collection whose number `taken` belongs to an existing ticket past every ticket it
    /// has, and takes the next number. The tickets numbered after `taken` were created after it: the newest
    /// activity of each status since a while before `taken` was created holds them all (the `byStatus` index is
    /// read a page at a time, newest first, and only that far back).
    async fn repair_counter(&self, collection: &Collection, taken: u64) -> Result<Collection, CreateError> {
        let id = &collection.collection_id;
        let existing = self.store().get_ticket(id, taken).await?;
        let since = existing.and_then(|t| Now::parse(&t.created_at)).map(|at| at.minus(COUNTER_SKEW).rfc3339());
        let since = since.unwrap_or_default();
        let mut highest = taken;
        for status in TicketStatus::ALL {
            let mut after = None;
            loop {
                let page = self.store().list_page(id, status, 100, after.as_ref()).await?;
                highest = page.tickets.iter().map(|t| t.ticket_number).fold(highest, u64::max);
                let older = page.tickets.last().is_some_and(|t| t.last_activity_at < since);
                match page.next {
                    Some(next) if !older => after = Some(next),
                    _ => break,
                }
            }
        }
        let raised = self.store().raise_counter(id, highest).await?;
        tracing::warn!(collection = %id, taken, highest, raised,
            "the ticket counter was behind its tickets: moved past them");
        telemetry::counter_repaired();
        let mut limits = collection.rate_limits;
        match self.store().take_number(id, &limits).await? {
            NumberTaken::Taken(next) => Ok(next),
            NumberTaken::NotFound => Err(CreateError::CollectionNotFound),
            NumberTaken::Disabled => Err(CreateError::TicketingDisabled),
            NumberTaken::LimitsChanged(actual) => {
                limits = actual;
                match self.store().take_number(id, &limits).await? {
                    NumberTaken::Taken(next) => Ok(next),
                    _ => {
                        Err(Unavailable::new("ticket counter", anyhow::anyhow!("the collection kept changing")).into())
                    }
                }
            }
        }
    }

    /// Counts the create against the abuse limits, then takes the number, if the collection exists, takes
    /// tickets, and has the limits the counts were checked against. The three counts go side by side: the key's,
    /// the requester's, and the collection's new requesters (taken back at once when the requester's own count
    /// shows them seen already this hour). The limits come from a per-process cache (a process new to the
    /// collection reads it alongside its first counts); the number's conditional write checks them, and a refusal
    /// reads the collection before it is final, so a stale cache costs a round trip, never a wrong answer.
    /// Whatever refuses the create takes its counts back.
    async fn admit(&self, id: &CollectionId, count: &RateCount) -> Result<(Collection, Quota), CreateError> {
        use Policy::{NewRequesters, PerKey, PerRequester};
        let entries = Policy::ALL.map(|policy| count.entry(policy));
        let cached = self.limits.get(id);
        // The limits to count against, and whether this create read them from the collection itself.
        let (mut counted_under, mut confirmed) = (cached.unwrap_or_default(), false);
        let mut read_first = cached.is_none();
        for _ in 0..3 {
            let counting = async {
                tokio::join!(
                    self.store().count(&entries[0], counted_under.per_key),
                    self.store().count(&entries[1], counted_under.per_requester),
                    self.store().count(&entries[2], counted_under.new_requesters),
                )
            };
            let reading = async {
                match std::mem::take(&mut read_first) {
                    true => Some(self.store().get_collection(id).await),
                    false => None,
                }
            };
            let ((key, requester, new), read) = tokio::join!(counting, reading);
            let results = [key, requester, new];
            let counted: Vec<Policy> = Policy::ALL
                .into_iter()
                .zip(&results)
                .filter(|(_, c)| matches!(c, Ok(Counted::Counted(_))))
                .map(|(policy, _)| policy)
                .collect();
            let mut limits = counted_under;
            if let Some(read) = read {
                match read.map_err(CreateError::from).and_then(|c| self.limits_of(id, c)) {
                    Ok(actual) => (limits, confirmed) = (actual, true),
                    Err(e) => {
                        self.uncount(count, &counted).await;
                        return Err(e);
                    }
                }
            }
            // A requester seen already this hour is no new one: their new-requester count does not stand.
            let seen_before = matches!(results[1], Ok(Counted::Counted(n)) if n > 1);
            let within = |policy: Policy, result: &Result<Counted, Unavailable>| match result {
                Ok(Counted::Counted(n)) => *n <= limits.limit(policy),
                _ => false,
            };
            let admitted = within(PerKey, &results[0])
                && within(PerRequester, &results[1])
                && (seen_before || within(NewRequesters, &results[2]));
            let standing = |c: &Counted| match c {
                Counted::Counted(n) => n - 1,
                Counted::Refused(n) => *n,
            };
            if !admitted {
                self.uncount(count, &counted).await;
                let [key, requester, new] = results;
                let (key, requester, new) = (key?, requester?, new?);
                // A refusal is final only under the collection's own limits, read now: 404 and 403 come before
                // 429, and a limit raised since it was cached is counted again under the new one.
                if !confirmed {
                    limits = self.limits_of(id, self.store().get_collection(id).await?)?;
                    confirmed = true;
                }
                let refused_under_lower = |c: Counted, policy: Policy| {
                    matches!(c, Counted::Refused(_)) && counted_under.limit(policy) < limits.limit(policy)
                };
                if refused_under_lower(key, PerKey)
                    || refused_under_lower(requester, PerRequester)
                    || (!seen_before && refused_under_lower(new, NewRequesters))
                {
                    counted_under = limits;
                    continue;
                }
                let mut used = [standing(&key), standing(&requester), standing(&new)];
                if seen_before {
                    // Not refused for being new: the new requesters' count is shown, not what refused.
                    used[2] = used[2].min(limits.new_requesters.saturating_sub(1));
                }
                let quota = count.quota(limits, used);
                let policy = quota.exceeded().map(|p| p.name());
                tracing::warn!(collection = %id, key_id = %count.key_id(), ?policy, "abuse limit reached");
                return Err(CreateError::RateLimited(quota));
            }
            let used = results.map(|c| match c {
                Ok(Counted::Counted(n)) => n,
                _ => 0,
            });
            let used_new = if seen_before { 0 } else { used[2] };
            // A returning requester's new-requester count is taken back while the number is taken.
            let give_back = async {
                if seen_before && counted.contains(&NewRequesters) {
                    self.uncount(count, &[NewRequesters]).await;
                }
            };
            let (taken, ()) = tokio::join!(self.take_number(id, &mut limits, [used[0], used[1], used_new]), give_back);
            let shown = [used[0], used[1], if seen_before { used[2].saturating_sub(1) } else { used[2] }];
            let still_counted: Vec<Policy> = match seen_before {
                true => vec![PerKey, PerRequester],
                false => Policy::ALL.to_vec(),
            };
            match taken {
                Ok(collection) => return Ok((collection, count.quota(limits, shown))),
                Err(AdmitError::Again) => {
                    self.uncount(count, &still_counted).await;
                    counted_under = limits;
                }
                Err(AdmitError::Refused(e)) => {
                    self.uncount(count, &still_counted).await;
                    return Err(e);
                }
                // The increment may have landed unseen: the counts stay (the limits err on the safe side).
                Err(AdmitError::Unavailable(e)) => return Err(e.into()),
            }
        }
        Err(Unavailable::new("abuse limits", anyhow::anyhow!("the collection's limits kept changing")).into())
    }

    /// The abuse limits of a collection as read, remembered for the next create; its absence or ticketing off
    /// refuse the create.
    fn limits_of(&self, id: &CollectionId, collection: Option<Collection>) -> Result<RateLimits, CreateError> {
        let collection = collection.ok_or(CreateError::CollectionNotFound)?;
        if !collection.ticketing_enabled {
            return Err(CreateError::TicketingDisabled);
        }
        self.limits.insert(id.clone(), collection.rate_limits);
        Ok(collection.rate_limits)
    }

    /// Takes the number under `limits`; when the collection's limits turn out to be others, decides with those.
    /// `used`: the counts by `Policy::ALL`, the new requesters' 0 for a requester seen before this hour.
    async fn take_number(
        &self,
        id: &CollectionId,
        limits: &mut RateLimits,
        used: [u32; 3],
    ) -> Result<Collection, AdmitError> {
        for _ in 0..2 {
            match self.store().take_number(id, limits).await.map_err(AdmitError::Unavailable)? {
                NumberTaken::Taken(collection) => {
                    self.limits.insert(id.clone(), collection.rate_limits);
                    return Ok(collection);
                }
                NumberTaken::NotFound => return Err(AdmitError::Refused(CreateError::CollectionNotFound)),
                NumberTaken::Disabled => return Err(AdmitError::Refused(CreateError::TicketingDisabled)),
                NumberTaken::LimitsChanged(actual) => {
                    self.limits.insert(id.clone(), actual);
                    *limits = actual;
                    // Counted against higher limits than the collection's and over them: count again, to be
                    // refused there with the right figures. Within them: take the number under them.
                    if Policy::ALL.into_iter().zip(used).any(|(policy, used)| used > actual.limit(policy)) {
                        return Err(AdmitError::Again);
                    }
                }
            }
        }
        Err(AdmitError::Again)
    }

    /// Takes back the counts of a create that was refused (best effort: a count that stays errs on the safe side).
    async fn uncount(&self, count: &RateCount, counted: &[Policy]) {
        let back = counted.iter().map(|policy| async move {
            let entry = count.entry(*policy);
            if let Err(e) = self.store().uncount(&entry).await {
                tracing::warn!(error = %e, "could not take back an abuse-limit count; it expires with its hour");
            }
        });
        futures_util::future::join_all(back).await;
    }

    /// Claims the idempotency key for this request, or finds what the first request with it created. A repeat
    /// that arrives while the first is still running waits for it (up to `IDEMPOTENCY_WAIT`), so that
    /// concurrent retries all get the same answer.
    async fn claim(
        &self,
        collection: &CollectionId,
        key_id: &str,
        key: &IdempotencyKey,
        input: &NewTicket,
        pepper: &Pepper,
    ) -> Result<Claim, CreateError> {
        let scope = key.scope(collection, key_id);
        let fingerprint = input.fingerprint();
        let deadline = Instant::now() + IDEMPOTENCY_WAIT;
        loop {
            let now = self.now().secs();
            let mine = IdempotencyRecord::claim(scope.clone(), fingerprint.clone(), random_hex::<16>(), now)
                .with_lease(self.idempotency_lease);
            let Some(mut held) = self.store().claim_idempotency(&mine, now).await? else {
                return Ok(Claim::Owned { scope, nonce: mine.key_nonce });
            };
            loop {
                if held.fingerprint != fingerprint {
                    return Err(CreateError::IdempotencyKeyReused);
                }
                if let (IdempotencyState::Completed, Some(number)) = (held.state, held.ticket_number) {
                    // The ticket's link as it is now: its links may have been rotated since the first answer.
                    let current = self.store().get_ticket(collection, number).await?.map(|t| t.key_nonce);
                    let nonce = current.unwrap_or_else(|| held.key_nonce.clone());
                    let private_url = self.private_url(pepper, collection, number, &nonce);
                    return Ok(Claim::Replay(Created {
                        ticket_number: number,
                        private_url,
                        replayed: true,
                        quota: None,
                    }));
                }
                if Instant::now() >= deadline {
                    return Err(CreateError::IdempotencyInProgress);
                }
                tokio::time::sleep(IDEMPOTENCY_POLL).await;
                match self.store().get_idempotency(&scope).await? {
                    Some(record) if !record.is_stale(self.now().secs()) => held = record,
                    // Released by a failed first attempt, or abandoned: claim it anew.
                    _ => break,
                }
            }
        }
    }
}

/// How taking the number went, short of success.
enum AdmitError {
    /// Count again: the collection's limits were not the ones counted against.
    Again,
    Refused(CreateError),
    Unavailable(Unavailable),
}
