//! The team's members: a collection's notification addresses. Each member's e-mails carry the member's own team
//! link and reply address of a ticket, derived with the pepper from the ticket's team nonce, the collection's
//! generation of team links, the member's address and the member's own generation (raised when the address is
//! taken off the team, so that adding it back makes new links). Nothing usable is stored; what a member does
//! through them is recorded as theirs (`Entry::by`).
//!
//! The team's shared link (no member's, recorded as nobody's) is what an API key's or the operator's rotation of
//! a ticket's links answers, and what e-mails carried before members had links of their own. It is revoked with
//! the collection's generation, as every team link is.

use super::collection::Collection;
use super::email_address::Email;
use super::keys::{Pepper, TicketKey};
use super::ticket::Ticket;

/// Who used a team credential: a member, or the team as a whole (the shared link or reply address).
pub type Member = Option<Email>;

/// A member's address as it enters a derivation: compared and derived case-blind.
fn folded(member: &Email) -> String {
    member.as_str().to_ascii_lowercase()
}

impl Collection {
    /// The member of the collection with this address (case-blind), as the collection spells it.
    pub fn member(&self, address: &str) -> Option<&Email> {
        self.notify_emails.iter().find(|m| m.as_str().eq_ignore_ascii_case(address))
    }

    /// The generation of a member's links: 0 until the address is first taken off the team.
    pub fn member_generation(&self, member: &Email) -> u32 {
        self.member_generations.get(&folded(member)).copied().unwrap_or(0)
    }

    /// Records that `removed` left the team: their links stop opening anything, now and if they come back. The
    /// first removal of a collection whose e-mails carried the shared link also raises the collection's
    /// generation once, as a removal did before members had links of their own: a shared link cannot be told
    /// apart from one the removed address kept. Whether that happened.
    pub fn take_off(&mut self, removed: &[Email]) -> bool {
        for member in removed {
            *self.member_generations.entry(folded(member)).or_default() += 1;
        }
        let revoke_shared = !removed.is_empty() && self.shared_links_mailed;
        if revoke_shared {
            self.shared_links_mailed = false;
            self.team_link_generation += 1;
        }
        revoke_shared
    }

    /// The team key of a ticket (whose team nonce is `nonce`) for `member`, or the shared one for `None`.
    pub fn team_key(&self, pepper: &Pepper, nonce: &str, member: Option<&Email>) -> TicketKey {
        let generation = self.team_link_generation;
        match member {
            None => TicketKey::derive_team(pepper, nonce, generation),
            Some(m) => TicketKey::derive_member(pepper, nonce, generation, &folded(m), self.member_generation(m)),
        }
    }

    /// The tag of a ticket's team reply address for `member`, or the shared one for `None`.
    pub fn team_reply_tag(&self, pepper: &Pepper, nonce: &str, member: Option<&Email>) -> TicketKey {
        let generation = self.team_link_generation;
        match member {
            None => TicketKey::derive_reply(pepper, "team", nonce, generation),
            Some(m) => {
                let label = format!("member:{}", self.member_generation(m));
                TicketKey::derive_reply(pepper, &label, &format!("{nonce}:{}", folded(m)), generation)
            }
        }
    }

    /// The team's credentials of a ticket: the shared one (`None`), then each member's.
    fn team_candidates(&self) -> impl Iterator<Item = Option<&Email>> {
        std::iter::once(None).chain(self.notify_emails.iter().map(Some))
    }

    /// A member's key to the collection's inbox (`/inbox/{collectionId}?key=`): 128 bits, revoked with the
    /// member's links and with the collection's generation.
    pub fn inbox_key(&self, pepper: &Pepper, member: &Email) -> TicketKey {
        let (id, generation) = (self.collection_id.as_str(), self.team_link_generation);
        TicketKey::derive_inbox(pepper, id, generation, &folded(member), self.member_generation(member))
    }

    /// The member whose inbox key `presented` is; every member's compared, each in constant time.
    pub fn inbox_holder(&self, pepper: &Pepper, presented: &str) -> Option<Email> {
        let members = self.notify_emails.iter().map(Some);
        holder(presented, members, |member| self.inbox_key(pepper, member.expect("a member"))).flatten()
    }

    /// Whose team link `presented` is, of the ticket whose team nonce is `nonce`.
    pub fn team_link_holder(&self, pepper: &Pepper, nonce: &str, presented: &str) -> Option<Member> {
        holder(presented, self.team_candidates(), |member| self.team_key(pepper, nonce, member))
    }

    /// Whose team reply address's tag `presented` is, of the ticket whose team nonce is `nonce`.
    pub fn team_reply_holder(&self, pepper: &Pepper, nonce: &str, presented: &str) -> Option<Member> {
        holder(presented, self.team_candidates(), |member| self.team_reply_tag(pepper, nonce, member))
    }
}

/// Whose credential `presented` is among `candidates`, each with the key `key_of` gives it (`Some(member)`, or
/// `Some(None)` for the team's shared one); `None` for none of them. Every candidate is compared, each in constant
/// time, whichever matches.
fn holder<'a>(
    presented: &str,
    candidates: impl Iterator<Item = Option<&'a Email>>,
    key_of: impl Fn(Option<&Email>) -> TicketKey,
) -> Option<Member> {
    let mut found = None;
    for candidate in candidates {
        if key_of(candidate).matches(presented) && found.is_none() {
            found = Some(candidate.cloned());
        }
    }
    found
}

/// Whom of `members` a requester's message or resolve of `ticket` e-mails: its assignee while a member, else
/// every member.
pub fn recipients(members: &[Email], ticket: &Ticket) -> Vec<Email> {
    let assignee = ticket.assignee.as_ref();
    match members.iter().find(|m| assignee.is_some_and(|a| a.as_str().eq_ignore_ascii_case(m.as_str()))) {
        Some(assignee) => vec![assignee.clone()],
        None => members.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pepper() -> Pepper {
        Pepper::new("a-pepper-for-tests-only-0123456789abcdef".to_owned().into()).unwrap()
    }

    fn email(a: &str) -> Email {
        Email::parse(a).unwrap()
    }

    fn collection(members: &[&str]) -> Collection {
        Collection::example("demo", members)
    }

    #[test]
    fn each_member_has_a_link_of_their_own_that_names_them_and_no_other() {
        let (p, c) = (pepper(), collection(&["ann@example.com", "bob@example.com"]));
        let ann = c.team_key(&p, "nonce", Some(&email("ann@example.com")));
        let bob = c.team_key(&p, "nonce", Some(&email("bob@example.com")));
        let shared = c.team_key(&p, "nonce", None);
        assert_ne!(ann.reveal(), bob.reveal());
        assert_ne!(ann.reveal(), shared.reveal());
        assert_eq!(c.team_link_holder(&p, "nonce", ann.reveal()), Some(Some(email("ann@example.com"))));
        assert_eq!(c.team_link_holder(&p, "nonce", bob.reveal()), Some(Some(email("bob@example.com"))));
        assert_eq!(c.team_link_holder(&p, "nonce", shared.reveal()), Some(None));
        assert_eq!(c.team_link_holder(&p, "other-ticket", ann.reveal()), None, "a link opens its own ticket only");
        let upper = c.team_key(&p, "nonce", Some(&email("ANN@example.com")));
        assert_eq!(upper.reveal(), ann.reveal(), "an address's case does not make another member");
    }

    #[test]
    fn a_member_taken_off_loses_their_links_and_reply_addresses_and_gets_new_ones_if_they_come_back() {
        let p = pepper();
        let mut c = collection(&["ann@example.com", "bob@example.com"]);
        let (ann, bob) = (email("ann@example.com"), email("bob@example.com"));
        let (ann_link, bob_link) = (c.team_key(&p, "n", Some(&ann)), c.team_key(&p, "n", Some(&bob)));
        let ann_tag = c.team_reply_tag(&p, "n", Some(&ann));
        c.notify_emails.retain(|m| m != &ann);
        assert!(!c.take_off(std::slice::from_ref(&ann)), "no shared link was mailed: the generation stays");
        assert_eq!(c.team_link_holder(&p, "n", ann_link.reveal()), None);
        assert_eq!(c.team_reply_holder(&p, "n", ann_tag.reveal()), None);
        assert_eq!(c.team_link_holder(&p, "n", bob_link.reveal()), Some(Some(bob.clone())), "the others keep theirs");
        c.notify_emails.push(ann.clone());
        assert_eq!(c.team_link_holder(&p, "n", ann_link.reveal()), None, "back on the team, the old link stays dead");
        let new = c.team_key(&p, "n", Some(&ann));
        assert_eq!(c.team_link_holder(&p, "n", new.reveal()), Some(Some(ann)));
    }

    #[test]
    fn the_first_removal_where_shared_links_were_mailed_revokes_every_team_link_once() {
        let p = pepper();
        let mut c = collection(&["ann@example.com", "bob@example.com"]);
        c.shared_links_mailed = true;
        let (shared, bob) = (c.team_key(&p, "n", None), email("bob@example.com"));
        c.notify_emails.retain(|m| m.as_str() != "ann@example.com");
        assert!(c.take_off(&[email("ann@example.com")]));
        assert_eq!((c.team_link_generation, c.shared_links_mailed), (1, false));
        assert_eq!(c.team_link_holder(&p, "n", shared.reveal()), None, "what ann may have kept is revoked");
        let bob_now = c.team_key(&p, "n", Some(&bob));
        c.notify_emails.push(email("carol@example.com"));
        let carol = c.team_key(&p, "n", Some(&email("carol@example.com")));
        c.notify_emails.retain(|m| m.as_str() != "carol@example.com");
        assert!(!c.take_off(&[email("carol@example.com")]), "from then on, a removal is the member's only");
        assert_eq!(c.team_link_holder(&p, "n", bob_now.reveal()), Some(Some(bob)));
        assert_eq!(c.team_link_holder(&p, "n", carol.reveal()), None);
    }
}
