//! Hostile mail to a valid reply address is harmless: header injection, a message past SES's 40 MB, thousands of
//! MIME parts, deep nesting, malformed MIME, NUL bytes, direction overrides, a forged `From`. Each ends in a
//! recorded entry with safe text or in a refusal: never a panic, never an error that would make Lambda retry
//! the receipt for ever, never an entry on another ticket, never more heap than about twice the message. Each
//! row prints the time and heap its message took.

use std::time::Instant;
use ticket_api::domain::attachment::MAX_FILES_PER_MESSAGE;

use crate::helpers::*;
use crate::replies::{message, receipt, replying};
use ticket_api::domain::inbound::{MAX_LISTED_ATTACHMENTS, MAX_RAW_BYTES, Receipt, Verdict, Verdicts};
use ticket_api::domain::{CollectionId, Entry};
use ticket_api::service::Received;

fn multipart(parts: &str, boundary: &str) -> String {
    format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n{parts}--{boundary}--\r\n")
}

fn attachment(boundary: &str, name: &str, base64: &str) -> String {
    format!(
        "--{boundary}\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\n\
         Content-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{base64}\r\n"
    )
}

fn text_part(boundary: &str, text: &str) -> String {
    format!("--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n")
}

/// A message from `from` to `to` with these raw headers and this raw body (its own `Content-Type`, if any).
fn raw(from: &str, to: &str, headers: &str, body: &str) -> Vec<u8> {
    format!("From: {from}\r\nTo: {to}\r\nSubject: Re: ticket\r\nMIME-Version: 1.0\r\n{headers}{body}").into_bytes()
}

#[tokio::test]
async fn hostile_mail_ends_in_a_safe_entry_or_a_refusal_never_in_a_crash_a_retry_or_a_wrong_ticket() {
    let r = replying().await;
    let to = r.requester_address.clone();
    let from = "user@email.com";
    // A second ticket, which every message below names in its subject and thread headers: none may land there.
    assert_eq!(call(&r.app.app, event("http-api.created.json")).await.status, 201);
    let other = ("Subject: Re: [Demo Support] Ticket #2\r\nIn-Reply-To: <demo-collection.2@ticket-api>\r\n\
                  References: <demo-collection.2@ticket-api>\r\n")
        .to_owned();

    let b = "b0undary";
    let big_attachment = "QUJD".repeat(9_500_000); // 38 MB of base64, 28.5 MB decoded
    let many_parts: String = (0..5_000).map(|i| attachment(b, &format!("part-{i}.bin"), "QUJD")).collect();
    let mut deep = String::from("Content-Type: multipart/mixed; boundary=\"n0\"\r\n\r\n");
    for depth in 1..2_000 {
        deep.push_str(&format!("--n{}\r\nContent-Type: multipart/mixed; boundary=\"n{depth}\"\r\n\r\n", depth - 1));
    }
    deep.push_str("--n1999\r\nContent-Type: text/plain\r\n\r\nDeep down.\r\n");

    // Two million empty parts, about 9 bytes each: 18 MB, within SES's 40 MB; parsed, each part would cost the
    // parser a record, hundreds of MB in all.
    let empty_parts = multipart(&"--e\r\n\r\n\r\n".repeat(2_000_000), "e");
    let blank_lines = format!("Short answer.{}", "\r\n".repeat(1_000_000));
    let big_html = format!(
        "Content-Type: text/html; charset=utf-8\r\n\r\n<div>Big HTML.</div>{}",
        "<div style=\"margin:0\"><span>filler</span></div>\r\n".repeat(600_000)
    );

    type Check = fn(&Entry);
    let rows: Vec<(&str, Vec<u8>, &str, Received, Check)> = vec![
        (
            "header injection: CRLF and Bcc encoded in the display name and subject",
            raw(
                &format!("=?utf-8?q?Eve=0D=0ABcc:_victim@example.com?= <{from}>"),
                &to,
                "Subject: =?utf-8?q?Hi=0D=0ABcc:_victim@example.com?=\r\nContent-Type: text/plain\r\n\r\n",
                "Injected?",
            ),
            from,
            Received::Recorded,
            |e| assert_eq!(e.by_email.as_ref().unwrap().from.as_str(), "user@email.com"),
        ),
        (
            "a Bcc and a second To in the raw headers",
            raw(
                from,
                &to,
                "Bcc: victim@example.com\r\nTo: other@example.com\r\nContent-Type: text/plain\r\n\r\n",
                "Bcc?",
            ),
            from,
            Received::Recorded,
            |e| assert_eq!(e.message.as_ref().unwrap().as_str(), "Bcc?"),
        ),
        (
            "a message one byte past SES's 40 MB",
            raw(from, &to, "Content-Type: text/plain\r\n\r\n", &"x".repeat(MAX_RAW_BYTES)),
            from,
            Received::Unreadable,
            |_| {},
        ),
        (
            "a 38 MB message: its text and one large attachment",
            raw(
                from,
                &to,
                "",
                &multipart(&(text_part(b, "See the log.") + &attachment(b, "log.bin", &big_attachment)), b),
            ),
            from,
            Received::Recorded,
            |e| {
                let by = e.by_email.as_ref().unwrap();
                // Past the 25 MB a file may be: left out, and the entry says so.
                assert_eq!((e.attachments.len(), by.left_out.len(), by.left_out[0].size), (0, 1, 28_500_000));
            },
        ),
        (
            "5,000 MIME parts",
            raw(from, &to, "", &multipart(&(text_part(b, "Many files.") + &many_parts), b)),
            from,
            Received::Recorded,
            |e| {
                let by = e.by_email.as_ref().unwrap();
                // Ten kept as files (a message's most), twenty listed as left out, the rest counted.
                let kept = (e.attachments.len(), by.left_out.len(), by.more_left_out);
                assert_eq!(kept, (MAX_FILES_PER_MESSAGE, MAX_LISTED_ATTACHMENTS, 5_000 - 10 - 20));
            },
        ),
        (
            "a short text followed by a million blank lines",
            raw(from, &to, "Content-Type: text/plain\r\n\r\n", &blank_lines),
            from,
            Received::Recorded,
            |e| assert_eq!(e.message.as_ref().unwrap().as_str(), "Short answer."),
        ),
        ("a 29 MB HTML-only message", raw(from, &to, "", &big_html), from, Received::Recorded, |e| {
            let text = e.message.as_ref().unwrap().as_str();
            assert!(text.starts_with("Big HTML.\nfiller\nfiller"), "{}", &text[..40]);
            assert!(e.by_email.as_ref().unwrap().truncated, "only the first 2 MB of markup were read");
        }),
        // mail-parser stops descending at its nesting limit: the text at the bottom is not reached.
        ("multiparts nested 2,000 deep", raw(from, &to, "", &deep), from, Received::Empty { noticed: false }, |_| {}),
        (
            "malformed MIME: a multipart without its boundary parameter",
            raw(
                from,
                &to,
                "Content-Type: multipart/mixed\r\n\r\n",
                "--x\r\nContent-Type: text/plain\r\n\r\nNo boundary\r\n",
            ),
            from,
            // No part can be told apart: no text.
            Received::Empty { noticed: false },
            |_| {},
        ),
        (
            "malformed MIME: a multipart never closed, base64 that is not, an unknown charset",
            raw(
                from,
                &to,
                "",
                &format!(
                    "Content-Type: multipart/mixed; boundary=\"{b}\"\r\n\r\n--{b}\r\nContent-Type: text/plain; \
                     charset=x-unknown-9\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64***\r\n"
                ),
            ),
            from,
            Received::Empty { noticed: false },
            |_| {},
        ),
        ("two million empty MIME parts (18 MB)", raw(from, &to, "", &empty_parts), from, Received::Unreadable, |_| {}),
        (
            "NUL bytes in the headers and the text",
            raw(&format!("Ann\0 <{from}>"), &to, "X-Nul: a\0b\r\nContent-Type: text/plain\r\n\r\n", "one\0two"),
            from,
            Received::Recorded,
            |e| assert_eq!(e.message.as_ref().unwrap().as_str(), "onetwo"),
        ),
        (
            "direction overrides and isolates around the text",
            raw(
                from,
                &to,
                "Content-Type: text/plain; charset=utf-8\r\n\r\n",
                "\u{202E}gnp.exe\u{202C} and \u{2066}x\u{2069}",
            ),
            from,
            Received::Recorded,
            |e| assert_eq!(e.message.as_ref().unwrap().as_str(), "gnp.exe and x"),
        ),
        (
            "a forged From with a valid reply address, naming ticket 2 in its thread headers",
            message("ceo@example.org", &to, &other, "Please refund everyone."),
            "ceo@example.org",
            Received::Recorded,
            |e| assert_eq!(e.by_email.as_ref().unwrap().from.as_str(), "ceo@example.org", "recorded, not trusted"),
        ),
    ];

    let demo = CollectionId::parse("demo-collection").unwrap();
    let second_before = r.app.store.thread(&demo, 2).await.unwrap();
    let mut largest = (0usize, std::time::Duration::ZERO, 0usize);
    for (i, (what, raw, source, expected, check)) in rows.into_iter().enumerate() {
        let size = raw.len();
        // From domains that vouch for nothing (DMARC gray): hostile mail draws no notice, whatever it is.
        let receipt = receipt(&format!("hostile-{i}"), &to, source);
        let receipt = Receipt { verdicts: Verdicts { dmarc: Verdict::Gray, ..Verdicts::PASSED }, ..receipt };
        let entries_before = r.ticket().entries;
        let started = Instant::now();
        let (outcome, heap) = peak_heap(r.receive(&receipt, raw)).await;
        let took = started.elapsed();
        assert_eq!(outcome, [expected], "{what}");
        // The message is read once from the inbox (a copy of it) and parsed in place: whatever it holds, it costs
        // at most about twice its size, and never the parser's record of millions of parts.
        let bound = size * 5 / 2 + 32_000_000;
        assert!(heap <= bound, "{what}: {:.1} MB of heap, over {:.1} MB", heap as f64 / 1e6, bound as f64 / 1e6);
        if expected == Received::Recorded {
            let thread = r.thread().await;
            let entry = thread.last().unwrap();
            assert_eq!((entry.seq, entry.author.as_str()), (entries_before + 1, "requester"), "{what}");
            let text = entry.message.as_ref().unwrap().as_str();
            assert!(!text.chars().any(|c| c == '\0' || ('\u{202A}'..='\u{202E}').contains(&c)), "{what}: {text:?}");
            check(entry);
        } else {
            assert_eq!(r.ticket().entries, entries_before, "{what}: nothing recorded");
        }
        if size > largest.0 {
            largest = (size, took, heap);
        }
        println!(
            "{what}: {} in {took:?}, heap at most {:.1} MB ({:.1} MB message)",
            outcome[0].as_str(),
            heap as f64 / 1e6,
            size as f64 / 1e6
        );
    }
    assert_eq!(r.app.store.thread(&demo, 2).await.unwrap(), second_before, "nothing landed on ticket 2");
    println!(
        "the largest message ({:.1} MB) took {:?} and at most {:.1} MB of heap",
        largest.0 as f64 / 1e6,
        largest.1,
        largest.2 as f64 / 1e6
    );

    // Every e-mail the recorded replies owe goes to the team alone: nothing the messages said added a recipient.
    let sent_before = r.app.mailer.sent().len();
    r.app.deliver().await;
    let sent: Vec<_> = r.app.mailer.sent()[sent_before..]
        .iter()
        .filter(|m| m.tag.starts_with("demo-collection_1_"))
        .cloned()
        .collect();
    assert_eq!(sent.len(), 9, "one e-mail to the team per recorded reply");
    for mail in &sent {
        assert_eq!(mail.to.as_str(), "support@example.com", "{mail:?}");
        assert!(mail.headers.iter().all(|(name, value)| !name.eq_ignore_ascii_case("bcc") && !value.contains('\n')));
    }
}
