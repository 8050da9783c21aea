//! The quoting corpus (`tests/mail/corpus/`): replies as Gmail, Outlook, Apple Mail, Thunderbird, phones and
//! others write them, above, below and between the quote, plain and HTML-only, in UTF-8, ISO-8859-1, KOI8-R and
//! CJK charsets. For every message, the text a reply by e-mail records is exactly the text its `.txt` says the
//! sender wrote: no quote, no attribution, no signature.

use std::path::Path;

use ticket_api::domain::inbound;

#[test]
fn every_reply_in_the_corpus_records_exactly_what_its_sender_wrote() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mail/corpus");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".eml").map(str::to_owned))
        .collect();
    names.sort();
    assert!(names.len() >= 30, "the corpus has its messages: {names:?}");
    let mut wrong = Vec::new();
    for name in &names {
        let raw = std::fs::read(dir.join(format!("{name}.eml"))).unwrap();
        let expected = std::fs::read_to_string(dir.join(format!("{name}.txt")))
            .unwrap_or_else(|_| panic!("{name}.eml has its {name}.txt"));
        let incoming = inbound::read(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(incoming.automatic.is_none(), "{name}: a person's reply is not automatic mail");
        assert!(incoming.from.is_some(), "{name}: its sender");
        if incoming.text == expected.trim_end_matches('\n') {
            println!(
                "{name}: {} characters, {} attachments",
                incoming.text.chars().count(),
                incoming.files.len() + incoming.left_out.len()
            );
        } else {
            wrong.push(format!(
                "{name}:\n  expected {:?}\n  recorded {:?}",
                expected.trim_end_matches('\n'),
                incoming.text
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} messages recorded the wrong text:\n{}",
        wrong.len(),
        names.len(),
        wrong.join("\n")
    );
}
