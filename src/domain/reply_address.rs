//! A ticket's reply addresses: every e-mail it sends replies to `{collectionId}.{number}.{r|t}.{tag}@{inbound
//! domain}`, for its recipient's role (`r` the requester, `t` the team). The tag is a credential as the links
//! are: derived with the pepper from the role's link nonce (`TicketKey::derive_reply`), stored nowhere, compared
//! in constant time. An answer to the address is a reply on the ticket in that role.
//!
//! An address's local part may have at most 64 characters (RFC 5321): the collection id, the number and 24 more
//! must fit, so a collection id of up to 33 characters does for any ticket below ten million. An e-mail of a
//! collection whose id is longer has no reply address (and says to answer from its link).

use super::collection::Collection;
use super::collection_id::CollectionId;
use super::email_address::Email;
use super::keys::{Pepper, TicketKey};
use super::members::Member;
use super::ticket::{Role, Ticket};

/// The longest local part of an address (RFC 5321, 4.5.3.1.1).
pub const MAX_LOCAL_PART: usize = 64;

/// A reply address as read from a recipient: what it names, and the tag it presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyAddress {
    pub collection_id: CollectionId,
    pub ticket_number: u64,
    pub role: Role,
    tag: String,
}

fn role_letter(role: Role) -> &'static str {
    match role {
        Role::Requester => "r",
        Role::Team => "t",
    }
}

/// Whose reply address: the requester's, or a member's of the collection's team (the shared one for `None`).
#[derive(Debug, Clone, Copy)]
pub enum Recipient<'a> {
    Requester,
    Team { collection: &'a Collection, member: Option<&'a Email> },
}

impl Recipient<'_> {
    fn role(self) -> Role {
        match self {
            Recipient::Requester => Role::Requester,
            Recipient::Team { .. } => Role::Team,
        }
    }
}

/// The tag of a ticket's reply address for `recipient`.
fn tag(pepper: &Pepper, ticket: &Ticket, recipient: Recipient<'_>) -> TicketKey {
    match recipient {
        Recipient::Requester => TicketKey::derive_reply(pepper, "requester", &ticket.key_nonce, 0),
        Recipient::Team { collection, member } => collection.team_reply_tag(pepper, &ticket.team_key_nonce, member),
    }
}

impl ReplyAddress {
    /// The reply address of `ticket` for `recipient` at `domain`; `None` when its local part would be too long.
    pub fn of(pepper: &Pepper, ticket: &Ticket, recipient: Recipient<'_>, domain: &str) -> Option<Email> {
        let tag = tag(pepper, ticket, recipient);
        let role = role_letter(recipient.role());
        let local = format!("{}.{}.{}.{}", ticket.collection_id, ticket.ticket_number, role, tag.reveal());
        if local.len() > MAX_LOCAL_PART {
            return None;
        }
        Email::parse(&format!("{local}@{domain}")).ok()
    }

    /// Reads a recipient as a reply address at `domain` (the domain compared case-blind, the tag's hex too);
    /// `None` for anything else.
    pub fn parse(recipient: &str, domain: &str) -> Option<Self> {
        let (local, at) = recipient.trim().rsplit_once('@')?;
        if !at.eq_ignore_ascii_case(domain) || local.len() > MAX_LOCAL_PART {
            return None;
        }
        let mut parts = local.split('.');
        let (collection, number, role, tag) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || tag.len() != 20 || !tag.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let role = match role {
            "r" | "R" => Role::Requester,
            "t" | "T" => Role::Team,
            _ => return None,
        };
        let ticket_number = number.parse().ok().filter(|n| *n >= 1 && !number.starts_with('0'))?;
        Some(Self {
            collection_id: CollectionId::parse(collection)?,
            ticket_number,
            role,
            tag: tag.to_ascii_lowercase(),
        })
    }

    /// Whose the tag is, if it is one `ticket` gives for this role now: `Some(member)` for a team member's,
    /// `Some(None)` for the requester's or the team's shared one; `None` if it verifies for nobody. Compared in
    /// constant time.
    pub fn holder(&self, pepper: &Pepper, ticket: &Ticket, collection: &Collection) -> Option<Member> {
        if ticket.collection_id != self.collection_id || ticket.ticket_number != self.ticket_number {
            return None;
        }
        match self.role {
            Role::Requester => tag(pepper, ticket, Recipient::Requester).matches(&self.tag).then_some(None),
            Role::Team => collection.team_reply_holder(pepper, &ticket.team_key_nonce, &self.tag),
        }
    }
}

/// `text` without any credential of `ticket`: its keys and its reply tags (the requester's, the team's shared
/// ones and every member's), each replaced by `[removed]`. A reply whose quote was not recognised would otherwise
/// put a member's link, quoted from the team's e-mail, in front of the requester.
pub fn without_credentials(text: &str, pepper: &Pepper, ticket: &Ticket, collection: &Collection) -> String {
    let nonce = &ticket.team_key_nonce;
    let mut secrets = vec![TicketKey::derive(pepper, &ticket.key_nonce), tag(pepper, ticket, Recipient::Requester)];
    for member in std::iter::once(None).chain(collection.notify_emails.iter().map(Some)) {
        secrets.push(collection.team_key(pepper, nonce, member));
        secrets.push(collection.team_reply_tag(pepper, nonce, member));
    }
    let mut clean = text.to_owned();
    for secret in &secrets {
        if clean.to_ascii_lowercase().contains(secret.reveal()) {
            clean = replace_ignoring_case(&clean, secret.reveal(), "[removed]");
        }
    }
    clean
}

/// `text` with every case-blind occurrence of the ASCII `needle` replaced.
fn replace_ignoring_case(text: &str, needle: &str, with: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (at, _) in lower.match_indices(needle) {
        out.push_str(&text[copied..at]);
        out.push_str(with);
        copied = at + needle.len();
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CollectionName, NewTicket};

    fn ticket(collection: &str, number: u64) -> Ticket {
        let input = NewTicket::from_json(br#"{"userEmail":"u@example.com","title":"t","message":"m"}"#).unwrap();
        Ticket::open(
            CollectionId::parse(collection).unwrap(),
            number,
            CollectionName::parse("Demo").unwrap(),
            &input,
            "nonce-r".into(),
            "nonce-t".into(),
            "2026-12-01T00:00:00Z".into(),
        )
    }

    fn pepper() -> Pepper {
        Pepper::new("a-pepper-for-tests-only-0123456789abcdef".to_owned().into()).unwrap()
    }

    #[test]
    fn a_reply_address_names_its_ticket_and_role_and_verifies_only_for_them() {
        let (p, t) = (pepper(), ticket("k3v9x2m8q4w7e5r1t6y0u2i8", 9_999_999));
        let c = Collection::example("k3v9x2m8q4w7e5r1t6y0u2i8", &[]);
        for role in [Role::Requester, Role::Team] {
            let recipient = match role {
                Role::Requester => Recipient::Requester,
                Role::Team => Recipient::Team { collection: &c, member: None },
            };
            let address = ReplyAddress::of(&p, &t, recipient, "reply.example.com").expect("a generated id fits");
            assert!(address.as_str().split('@').next().unwrap().len() <= MAX_LOCAL_PART, "{address:?}");
            let read = ReplyAddress::parse(address.as_str(), "REPLY.example.com").unwrap();
            assert_eq!((read.ticket_number, read.role), (9_999_999, role));
            assert_eq!(read.holder(&p, &t, &c), Some(None), "{role:?}");
            let next = Collection { team_link_generation: 1, ..c.clone() };
            assert!(read.holder(&p, &t, &next).is_none() || role == Role::Requester, "a new generation revokes it");
            let upper = address.as_str().replace(&read.tag, &read.tag.to_ascii_uppercase());
            let upper = ReplyAddress::parse(&upper, "reply.example.com").unwrap();
            assert_eq!(upper.holder(&p, &t, &c), Some(None), "hex case-blind");
        }
        let requester = ReplyAddress::of(&p, &t, Recipient::Requester, "reply.example.com").unwrap();
        let shared = Recipient::Team { collection: &c, member: None };
        let team = ReplyAddress::of(&p, &t, shared, "reply.example.com").unwrap();
        let forged = requester.as_str().replacen(".r.", ".t.", 1);
        assert_eq!(ReplyAddress::parse(&forged, "reply.example.com").unwrap().holder(&p, &t, &c), None, "role bound");
        let other = ticket("k3v9x2m8q4w7e5r1t6y0u2i8", 8);
        assert_eq!(ReplyAddress::parse(team.as_str(), "reply.example.com").unwrap().holder(&p, &other, &c), None);
        let rotated = Ticket { key_nonce: "new".into(), ..t.clone() };
        let read = ReplyAddress::parse(requester.as_str(), "reply.example.com").unwrap();
        assert_eq!(read.holder(&p, &rotated, &c), None, "rotating the links rotates the reply addresses");
    }

    #[test]
    fn a_members_reply_address_names_the_member_and_no_other() {
        let (p, t) = (pepper(), ticket("demo", 7));
        let c = Collection::example("demo", &["ann@example.com", "bob@example.com"]);
        let ann = Email::parse("ann@example.com").unwrap();
        let anns = Recipient::Team { collection: &c, member: Some(&ann) };
        let address = ReplyAddress::of(&p, &t, anns, "r.example.com").unwrap();
        let read = ReplyAddress::parse(address.as_str(), "r.example.com").unwrap();
        assert_eq!(read.holder(&p, &t, &c), Some(Some(ann.clone())));
        let without_ann = Collection::example("demo", &["bob@example.com"]);
        assert_eq!(read.holder(&p, &t, &without_ann), None, "taken off the team, the address verifies for nobody");
        let quoted = format!("thanks\n> from {}", c.team_key(&p, &t.team_key_nonce, Some(&ann)).reveal());
        assert!(
            !without_credentials(&quoted, &p, &t, &c).contains(c.team_key(&p, &t.team_key_nonce, Some(&ann)).reveal())
        );
    }

    #[test]
    fn anything_else_is_not_a_reply_address() {
        for recipient in [
            "support@example.com",
            "demo.1.r.0123456789abcdef0123@other.example.com",
            "demo.1.x.0123456789abcdef0123@reply.example.com",
            "demo.01.r.0123456789abcdef0123@reply.example.com",
            "demo.0.r.0123456789abcdef0123@reply.example.com",
            "demo.1.r.0123456789abcdef012@reply.example.com",
            "demo.1.r.0123456789abcdef012g@reply.example.com",
            "demo.1.r.0123456789abcdef0123.x@reply.example.com",
            "de mo.1.r.0123456789abcdef0123@reply.example.com",
            "@reply.example.com",
        ] {
            assert_eq!(ReplyAddress::parse(recipient, "reply.example.com"), None, "{recipient}");
        }
    }

    #[test]
    fn a_collection_id_too_long_for_the_local_part_gets_no_reply_address() {
        let p = pepper();
        let (longest, c) = ("a".repeat(33), Collection::example("a", &[]));
        let team = Recipient::Team { collection: &c, member: None };
        assert!(ReplyAddress::of(&p, &ticket(&longest, 9_999_999), team, "r.example.com").is_some());
        assert!(ReplyAddress::of(&p, &ticket(&"a".repeat(34), 9_999_999), team, "r.example.com").is_none());
    }
}
