//! Files on tickets: an upload asked for (a signed id and a presigned form, nothing stored), the uploads a
//! create or reply references checked against what the bucket holds before anything is counted or taken, kept
//! under the ticket (copied, never through the function) and used once (a mark written with the entry), the
//! files a reply by e-mail or a page brings written under the ticket, and a download handed out through the
//! ticket's own credentials.
//!
//! 1. an upload: the credential (an API key granted the collection for a create's; any credential of the ticket
//!    for a reply's), then the request (name, type, size); the id signs what was granted;
//! 2. a reference: every id decoded (unknown, expired, another collection's or ticket's: 422), every object
//!    inspected (missing, or already used and so deleted: 422; larger or smaller than declared, or bytes of
//!    another type: 422), the message's and the ticket's caps (422), all before the create or reply is counted;
//! 3. the files copied under the ticket, then the entry written with a mark per upload (a second use of one
//!    finds its mark: 422, nothing written), then the uploads deleted (what a failure leaves, the bucket's
//!    lifecycle deletes a day later);
//! 4. a download: the ticket's credential (a wrong one, another ticket's file and a missing file are one 404),
//!    the scan (while scanning is on, a file is handed out only once cleared), a presigned GET of minutes.

use crate::domain::attachment::{
    self, BadUpload, FileMeta, MAX_FILE_BYTES, MAX_FILES_PER_MESSAGE, MAX_FILES_PER_TICKET, MAX_MESSAGE_FILE_BYTES,
    MAX_TICKET_FILE_BYTES, Mismatch, PostedFile, UploadId, UploadRequest, file_key, upload_key,
};
use crate::domain::outbox::{InfectedFile, infected};
use crate::domain::{CollectionId, FieldCode, FieldError, InputError, Message, Ticket};
use crate::ports::{
    CollectionStore, Download, Files, OutboxStore, Ports, TicketStore, Unavailable, UploadForm, UploadSlot,
};
use crate::telemetry;

use super::{ConversationError, CreateError, Credential, TicketService};

/// An upload granted: its id, when it stops being good, and the form to post the file with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub upload_id: String,
    pub expires_at: u64,
    pub form: UploadForm,
}

/// An upload found good for a message: where it is, and the file it becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub upload_key: String,
    pub file: FileMeta,
}

/// The files a message brings: checked uploads (kept on the way), or files already written (a reply by e-mail).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageFiles {
    pub files: Vec<FileMeta>,
    /// The uploads they come from, by nonce: each used once, by the mark written with the entry.
    pub uploads: Vec<String>,
}

impl MessageFiles {
    pub fn from_uploads(checked: &[Checked]) -> Self {
        Self {
            files: checked.iter().map(|c| c.file.clone()).collect(),
            uploads: checked.iter().map(|c| c.file.id.clone()).collect(),
        }
    }

    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// Whether the ticket keeps these files too, under `MAX_FILES_PER_TICKET` and `MAX_TICKET_FILE_BYTES`.
    pub fn fit(&self, ticket: &Ticket) -> bool {
        ticket.files as usize + self.files.len() <= MAX_FILES_PER_TICKET as usize
            && ticket.file_bytes + self.bytes() <= MAX_TICKET_FILE_BYTES
    }
}

/// A message to append: its text and its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::service) struct Said {
    pub(in crate::service) text: Message,
    pub(in crate::service) files: MessageFiles,
}

/// The files a page posted with a reply, as they will be kept: each within `MAX_FILE_BYTES`, served as what its
/// bytes show; with the `uploads` the reply references, at most `MAX_FILES_PER_MESSAGE` and
/// `MAX_MESSAGE_FILE_BYTES` (a page's post is within 4 MB anyway).
pub(in crate::service) fn posted_files(
    posted: Vec<PostedFile>,
    uploads: usize,
) -> Result<Vec<(FileMeta, Vec<u8>)>, ConversationError> {
    if posted.len() + uploads > MAX_FILES_PER_MESSAGE {
        return Err(refused(vec![format!("a message carries at most {MAX_FILES_PER_MESSAGE} files")]).into());
    }
    let mut files = Vec::new();
    for (i, file) in posted.into_iter().enumerate() {
        if file.bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(refused(vec![format!("file {} ({}) is over 25 MB", i + 1, file.file_name)]).into());
        }
        let head = &file.bytes[..file.bytes.len().min(attachment::SNIFF_BYTES)];
        let meta =
            FileMeta::new(&file.file_name, attachment::served_type(head, &file.content_type), file.bytes.len() as u64);
        files.push((meta, file.bytes));
    }
    Ok(files)
}

/// Why a message's attachments are refused: a 422 on `attachments` naming each, or a dependency down.
pub(in crate::service) enum Refused {
    Input(InputError),
    Unavailable(Unavailable),
}

impl From<Unavailable> for Refused {
    fn from(e: Unavailable) -> Self {
        Refused::Unavailable(e)
    }
}

impl From<Refused> for CreateError {
    fn from(r: Refused) -> Self {
        match r {
            Refused::Input(e) => CreateError::Input(e),
            Refused::Unavailable(e) => CreateError::Unavailable(e),
        }
    }
}

impl From<Refused> for ConversationError {
    fn from(r: Refused) -> Self {
        match r {
            Refused::Input(e) => ConversationError::Input(e),
            Refused::Unavailable(e) => ConversationError::Unavailable(e),
        }
    }
}

/// The 422 of a message's attachments.
fn refused(errors: Vec<String>) -> Refused {
    let errors = errors.into_iter().map(|m| FieldError::new("attachments", FieldCode::InvalidValue, m)).collect();
    Refused::Input(InputError::Invalid(errors))
}

/// The 422 of a ticket whose files are full.
pub(in crate::service) fn ticket_full() -> InputError {
    InputError::Invalid(vec![FieldError::new(
        "attachments",
        FieldCode::TooMany,
        format!(
            "the ticket keeps at most {MAX_FILES_PER_TICKET} files and {} MB of them",
            MAX_TICKET_FILE_BYTES / (1024 * 1024)
        ),
    )])
}

impl<P: Ports> TicketService<P> {
    /// An upload for a create: for an API key granted the collection, which exists and takes tickets.
    pub async fn request_create_upload(
        &self,
        presented_key: Option<&str>,
        collection: &str,
        request: Result<UploadRequest, InputError>,
    ) -> Result<Upload, CreateError> {
        let key = self.authenticate(presented_key).await?.ok_or(CreateError::Unauthorized)?;
        let id = CollectionId::parse(collection).filter(|id| key.grants(id)).ok_or(CreateError::Forbidden)?;
        match self.store().get_collection(&id).await? {
            None => return Err(CreateError::CollectionNotFound),
            Some(c) if !c.ticketing_enabled => return Err(CreateError::TicketingDisabled),
            Some(_) => {}
        }
        let request = request.map_err(CreateError::Input)?;
        Ok(self.upload(&id, 0, &request).await?)
    }

    /// An upload for a reply: for any credential of the ticket, which is not closed.
    pub async fn request_reply_upload(
        &self,
        collection: &str,
        number: &str,
        credential: Credential<'_>,
        request: Result<UploadRequest, InputError>,
    ) -> Result<Upload, ConversationError> {
        let opened = self.open(collection, number, credential).await?;
        let request = request.map_err(ConversationError::Input)?;
        opened.ticket.status.after_message(opened.role).map_err(|_| ConversationError::Closed)?;
        let ticket = &opened.ticket;
        Ok(self.upload(&ticket.collection_id, ticket.ticket_number, &request).await?)
    }

    async fn upload(&self, id: &CollectionId, ticket: u64, request: &UploadRequest) -> Result<Upload, Unavailable> {
        let pepper = self.pepper().await?;
        let upload = UploadId::new(request, ticket, self.now().secs());
        let key = upload_key(id, &upload.nonce);
        let slot = UploadSlot {
            key: &key,
            file_name: &request.file_name,
            content_type: request.content_type,
            size: request.size,
            expires_at: upload.expires_at,
        };
        let form = self.ports.files().upload_form(&slot).await?;
        tracing::info!(collection = %id, ticket, size = request.size, content_type = request.content_type,
            "upload granted");
        Ok(Upload { upload_id: upload.encode(pepper, id), expires_at: upload.expires_at, form })
    }

    /// Checks the uploads a create (`ticket` 0) or a reply references: each id good for this collection and
    /// ticket, each object there, of its declared size and of bytes of its declared type; within a message's
    /// caps. Every problem is named; nothing is written.
    pub(in crate::service) async fn check_uploads(
        &self,
        id: &CollectionId,
        ticket: u64,
        ids: &[String],
    ) -> Result<Vec<Checked>, Refused> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let pepper = self.pepper().await?;
        let now = self.now().secs();
        let mut problems = Vec::new();
        let mut decoded = Vec::new();
        for (i, presented) in ids.iter().enumerate() {
            match UploadId::decode(presented, pepper, id, ticket, now) {
                Ok(upload) if decoded.iter().any(|(_, u): &(usize, UploadId)| u.nonce == upload.nonce) => {
                    problems.push(format!("attachments[{i}] is listed twice"));
                }
                Ok(upload) => decoded.push((i, upload)),
                Err(BadUpload::Unknown) => {
                    problems.push(format!("attachments[{i}] is not an upload of this collection"))
                }
                Err(BadUpload::Expired) => problems.push(format!("attachments[{i}] has expired: ask for a new upload")),
                Err(BadUpload::OtherTicket) => problems.push(format!(
                    "attachments[{i}] was asked for {}",
                    if ticket == 0 { "a reply, not a new ticket" } else { "another ticket or a new one" }
                )),
            }
        }
        let files = self.ports.files();
        let keys: Vec<String> = decoded.iter().map(|(_, u)| upload_key(id, &u.nonce)).collect();
        let inspected = futures_util::future::join_all(keys.iter().map(|key| files.inspect(key))).await;
        let mut checked = Vec::new();
        for ((i, upload), stored) in decoded.iter().zip(inspected) {
            let Some(stored) = stored? else {
                problems.push(format!("attachments[{i}] was not uploaded, or is used already"));
                continue;
            };
            match attachment::check_upload(upload.content_type, upload.size, stored.size, &stored.head) {
                Ok(()) => {}
                Err(Mismatch::Size { declared, found }) => {
                    problems.push(format!("attachments[{i}] holds {found} bytes, not the {declared} declared"));
                    continue;
                }
                Err(Mismatch::Type) => {
                    problems.push(format!("attachments[{i}] is not a {} file", upload.content_type));
                    continue;
                }
            }
            let name =
                stored.file_name.as_deref().and_then(attachment::safe_file_name).unwrap_or_else(|| "file".into());
            let file = FileMeta {
                id: upload.nonce.clone(),
                file_name: name,
                content_type: upload.content_type.to_owned(),
                size: stored.size,
            };
            checked.push(Checked { upload_key: upload_key(id, &upload.nonce), file });
        }
        if ids.len() > MAX_FILES_PER_MESSAGE {
            problems.push(format!("a message carries at most {MAX_FILES_PER_MESSAGE} files"));
        }
        if checked.iter().map(|c| c.file.size).sum::<u64>() > MAX_MESSAGE_FILE_BYTES {
            problems.push(format!("a message's files add up to at most {} MB", MAX_MESSAGE_FILE_BYTES / (1024 * 1024)));
        }
        match problems.is_empty() {
            true => Ok(checked),
            false => Err(refused(problems)),
        }
    }

    /// Copies checked uploads under their ticket. One that is gone meanwhile (used by another message) is the
    /// same 422 as at the check.
    pub(in crate::service) async fn keep_uploads(
        &self,
        id: &CollectionId,
        ticket: u64,
        checked: &[Checked],
    ) -> Result<(), Refused> {
        let files = self.ports.files();
        let keys: Vec<String> = checked.iter().map(|c| file_key(id, ticket, &c.file.id)).collect();
        let kept = futures_util::future::join_all(
            checked.iter().zip(&keys).map(|(c, to)| files.keep(&c.upload_key, to, &c.file)),
        )
        .await;
        let mut problems = Vec::new();
        for (i, kept) in kept.into_iter().enumerate() {
            if !kept? {
                problems.push(format!("attachments[{i}] was not uploaded, or is used already"));
            }
        }
        match problems.is_empty() {
            true => Ok(()),
            false => Err(refused(problems)),
        }
    }

    /// Writes the files the function holds (a page's, a reply by e-mail's) under their ticket.
    pub(in crate::service) async fn put_files(
        &self,
        id: &CollectionId,
        ticket: u64,
        files: Vec<(FileMeta, Vec<u8>)>,
    ) -> Result<(), Unavailable> {
        let store = self.ports.files();
        let puts = files
            .into_iter()
            .map(|(file, bytes)| async move { store.put(&file_key(id, ticket, &file.id), bytes, &file).await });
        futures_util::future::join_all(puts).await.into_iter().collect()
    }

    /// Deletes the uploads a written message kept (best effort: the bucket deletes what is left after a day).
    pub(in crate::service) async fn forget_uploads(&self, checked: &[Checked]) {
        if checked.is_empty() {
            return;
        }
        let keys: Vec<String> = checked.iter().map(|c| c.upload_key.clone()).collect();
        if let Err(e) = self.ports.files().delete(&keys).await {
            tracing::warn!(error = %e, "could not delete used uploads; the bucket's lifecycle deletes them");
        }
    }

    /// The 422 of an upload that another message used first (its mark was there).
    pub(in crate::service) fn upload_used() -> InputError {
        InputError::Invalid(vec![FieldError::new(
            "attachments",
            FieldCode::InvalidValue,
            "an upload of this message is used already",
        )])
    }

    /// A threat the malware scan found in the object at `key`: if it is a ticket's file, each of the collection's
    /// notification addresses is e-mailed (once per file, however often this is told); whether the team was.
    /// The file is kept from download by its scan's tag whatever this does.
    pub async fn file_infected(&self, key: &str, threats: &[String]) -> Result<bool, Unavailable> {
        let Some((id, number, file_id)) = attachment::parse_file_key(key) else { return Ok(false) };
        let (ticket, collection) = tokio::join!(self.store().get_ticket(&id, number), self.store().get_collection(&id));
        let (Some(ticket), collection) = (ticket?, collection?) else { return Ok(false) };
        let thread = self.store().thread(&id, number).await?;
        let found = thread.iter().find_map(|e| {
            let position = e.attachments.iter().position(|f| f.id == file_id)?;
            Some((e.seq, position, e.attachments[position].file_name.clone()))
        });
        let Some((seq, position, file_name)) = found else { return Ok(false) };
        let threat = if threats.is_empty() { "unnamed".to_owned() } else { threats.join(", ") };
        let team = collection.map(|c| c.notify_emails).unwrap_or_default();
        let at = self.now();
        let file = InfectedFile { file_name, threat: threat.clone() };
        for mail in infected(&ticket, seq, position, file, &team, &at.rfc3339(), self.due(at)) {
            self.store().add_mail(&mail).await?;
        }
        tracing::warn!(collection = %id, ticket = number, entry = seq, file = %file_id, threat = %threat,
            "a file was found infected: kept from download, the team told");
        telemetry::file_infected();
        Ok(true)
    }

    /// A file of a ticket, for whoever the credential opens the ticket to: a presigned GET, or what keeps the
    /// file back. A wrong credential, another ticket's file and a missing file are the same `NotFound`.
    pub async fn download(
        &self,
        collection: &str,
        number: &str,
        file_id: &str,
        credential: Credential<'_>,
    ) -> Result<Download, ConversationError> {
        let opened = self.open(collection, number, credential).await?;
        if !attachment::is_file_id(file_id) {
            return Err(ConversationError::NotFound);
        }
        let ticket = &opened.ticket;
        let key = file_key(&ticket.collection_id, ticket.ticket_number, file_id);
        match self.ports.files().download(&key, self.file_scanning).await? {
            Download::Missing => Err(ConversationError::NotFound),
            held @ Download::Held(_) => {
                tracing::info!(collection = %ticket.collection_id, ticket = ticket.ticket_number, ?held,
                    "a file held back from download");
                Ok(held)
            }
            ready => Ok(ready),
        }
    }
}
