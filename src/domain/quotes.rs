//! What a sender newly wrote in the text of a reply by e-mail: what they quoted, signed or pasted below taken away.
//!
//! A reply's text is read line by line. Lines quoted with `>` are dropped wherever they stand, and so is what
//! introduces a quote (an attribution line, "On … wrote:" and its kin in other languages and orders, or a
//! quoted message's header block, From/Sent/To/Subject in the languages Outlook writes it in) when `>` lines
//! follow it: the text above, below and between quotes is kept. The text ends at the first of: the line every
//! ticket e-mail opens with (`REPLY_ABOVE`), an attribution line or a header block followed by the original
//! pasted unquoted (as Outlook and HTML-to-text conversions write it), Outlook's "-----Original Message-----"
//! and its translations, a forwarded message, the signature delimiter `-- `, and the "Sent from my iPhone" lines
//! of phone and desktop clients.

/// The first line of every e-mail that replies to its ticket (`templates/email/`): what a reply writes above
/// it is the reply, whatever the mail client quoted below.
pub const REPLY_ABOVE: &str = "-- Reply above this line --";

/// The verb of an attribution line ("On …, X wrote:", "Am … schrieb X <x@y>:", "在 … 写道：", "… пользователь X
/// написал:"), which ends it.
const WROTE: &[&str] = &[
    "wrote",
    "a écrit",
    "schrieb",
    "escribió",
    "ha scritto",
    "escreveu",
    "schreef",
    "napisał",
    "skrev",
    "napsal",
    "kirjoitti",
    "написал",
    "пишет",
    "написав",
    "пише",
    "写道",
    "寫道",
    "のメッセージ",
    "님이 작성",
];

/// The line that starts a quoted message in Outlook ("-----Original Message-----") and others, in the
/// languages they write it in.
const ORIGINAL_MESSAGE: &[&str] = &[
    "original message",
    "ursprüngliche nachricht",
    "message d'origine",
    "mensaje original",
    "messaggio originale",
    "mensagem original",
    "oorspronkelijk bericht",
    "originalmeddelande",
    "oprindelig meddelelse",
    "исходное сообщение",
    "原始邮件",
];

/// The line that starts a forwarded message ("---------- Forwarded message ---------"), in other languages.
const FORWARDED: &[&str] = &[
    "forwarded message",
    "weitergeleitete nachricht",
    "message transféré",
    "mensaje reenviado",
    "messaggio inoltrato",
    "mensagem encaminhada",
    "пересылаемое сообщение",
    "转发的邮件",
];

/// The automatic line a client writes under what its user wrote ("Sent from my iPhone"), at the line's start.
const SENT_FROM: &[&str] = &[
    "sent from my ",
    "sent from mail for windows",
    "sent from outlook",
    "sent from yahoo mail",
    "get outlook for ",
    "envoyé de mon ",
    "envoyé à partir de courrier pour windows",
    "von meinem ",
    "gesendet von mail für windows",
    "enviado desde mi ",
    "inviato da ",
    "отправлено с iphone",
    "отправлено с моего ",
    "отправлено из мобильной ",
    "отправлено из приложения ",
    "sent with proton mail",
    "sent with [proton mail]",
    "iphoneから送信",
    "androidから送信",
    "发自我的",
    "從我的 iphone 傳送",
];

/// A field of a quoted message's header block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    From,
    Sent,
    To,
    Subject,
    Cc,
}

/// How the fields of a header block are named, lowercase and separated by `|`, in the languages Outlook,
/// Hotmail, Windows Mail and phone clients write them in (French puts a space, often a no-break one, before the
/// colon).
const FIELDS: &[(Field, &str)] = &[
    (Field::From, "from:|de:|de :|von:|da:|van:|od:|från:|fra:|от:|от кого:|发件人:|发件人：|差出人:|寄件者:"),
    (
        Field::Sent,
        "sent:|date:|date :|envoyé :|envoyé:|gesendet:|datum:|enviado:|enviado el:|enviada em:|fecha:|inviato:|\
         data:|verzonden:|wysłano:|skickat:|sendt:|odesláno:|отправлено:|дата:|发送时间:|发送时间：|日期:|送信日時:",
    ),
    (Field::To, "to:|à :|à:|an:|para:|a:|aan:|do:|till:|til:|komu:|кому:|收件人:|收件人：|宛先:|收件者:"),
    (
        Field::Subject,
        "subject:|objet :|objet:|betreff:|asunto:|oggetto:|assunto:|onderwerp:|temat:|ämne:|emne:|předmět:|тема:|\
         主题:|主题：|件名:|主旨:",
    ),
    (Field::Cc, "cc:|cc :|kopie:|копия:|抄送:|抄送："),
];

/// What a sender wrote in a reply's text: the text up to the first line that ends it, without what is quoted
/// with `>` and what introduces it, without blank lines around it. Where a quote is taken out from between
/// two pieces of new text, the blank lines around it become at most one.
pub fn new_text(body: &str) -> String {
    new_text_and_end(body).0
}

/// The new text, and whether its end was seen: a line that ends it was found, or the body ends in a quote (a
/// body cut short was then cut in what the sender quoted, not in what they wrote). Linear in the body's length,
/// whatever its lines.
pub fn new_text_and_end(body: &str) -> (String, bool) {
    /// A line of the body as it is kept: one of the sender's, or where quoted lines were taken out.
    enum Kept<'a> {
        Line(&'a str),
        Cut,
    }
    let body = body.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = body.lines().collect();
    // For each line, the next non-blank line after it: one pass from the end.
    let mut next_text: Vec<Option<usize>> = vec![None; lines.len()];
    let mut seen = None;
    for i in (0..lines.len()).rev() {
        next_text[i] = seen;
        if !blank(lines[i]) {
            seen = Some(i);
        }
    }
    let mut kept = Vec::new();
    let mut ended = false;
    let mut in_quote = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if quoted(line) {
            kept.push(Kept::Cut);
            in_quote = true;
            i += 1;
            continue;
        }
        if blank(line) {
            kept.push(Kept::Line(""));
            i += 1;
            continue;
        }
        if let Some(after) = introduction(&lines, i) {
            // The first non-blank line after it: the quote it introduces, or the original pasted unquoted.
            let first = if after < lines.len() && !blank(lines[after]) { Some(after) } else { next_text[after - 1] };
            match first {
                Some(j) if quoted(lines[j]) => {
                    kept.push(Kept::Cut);
                    i = j;
                    continue;
                }
                _ => {
                    ended = true;
                    break;
                }
            }
        }
        let next = next_text[i].map(|n| lines[n].trim_start_matches(['>', ' ']));
        if ends_new_text(clean(line), next) {
            ended = true;
            break;
        }
        kept.push(Kept::Line(line.trim_end()));
        in_quote = false;
        i += 1;
    }
    // Blank lines kept as written, but those around a quote taken out, which become at most one.
    let mut text: Vec<&str> = Vec::new();
    let (mut blanks, mut cut) = (0, false);
    for item in kept {
        match item {
            Kept::Cut => cut = true,
            Kept::Line("") => blanks += 1,
            Kept::Line(line) => {
                if !text.is_empty() {
                    let blanks = if cut { blanks.min(1) } else { blanks };
                    text.extend(std::iter::repeat_n("", blanks));
                }
                text.push(line);
                (blanks, cut) = (0, false);
            }
        }
    }
    (text.join("\n"), ended || in_quote)
}

/// A line quoted with `>` (by any client, at any depth).
fn quoted(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

fn blank(line: &str) -> bool {
    clean(line).is_empty()
}

/// A line without the spaces around it, nor the byte-order mark some clients start a line with.
fn clean(line: &str) -> &str {
    line.trim_matches(|c: char| c.is_whitespace() || c == '\u{FEFF}')
}

/// Where what introduces a quoted message ends, if `lines[i]` starts one: an attribution line (one line, or
/// two when the client wrapped it), or a header block with the rule or "-----Original Message-----" above it.
fn introduction(lines: &[&str], i: usize) -> Option<usize> {
    if let Some(n) = attribution(lines, i) {
        return Some(i + n);
    }
    let mut start = i;
    while start < lines.len().min(i + 2) && separator(clean(lines[start])) {
        start += 1;
    }
    header_block(lines, start)
}

/// How many lines the attribution line starting at `lines[i]` takes, if one does: one, or two when a client
/// wrapped it inside the address (Gmail) or before the verb (Gmail for Android: "wrote:" alone).
fn attribution(lines: &[&str], i: usize) -> Option<usize> {
    let line = clean(lines[i]);
    if attribution_line(line) {
        return Some(1);
    }
    let next = lines.get(i + 1).map(|l| clean(l)).filter(|l| !l.is_empty() && !l.starts_with('>'))?;
    let verb_alone = WROTE.contains(&next.trim_end_matches([':', '：']).trim_end());
    let address_cut = line.rfind('<').is_some_and(|at| !line[at..].contains('>'));
    let english = line.get(..3).is_some_and(|s| s.eq_ignore_ascii_case("on ")) && next.ends_with("wrote:");
    let wrapped = (verb_alone || address_cut) && line.len() + next.len() < 1600;
    (english || wrapped && attribution_line(&format!("{line} {next}"))).then_some(2)
}

/// An attribution line: it ends with a colon and has a date or an address in it ("Here is what I wrote:" is
/// the sender's own text), and either a verb of writing or, as Gmail in Russian and Yandex write it
/// (`сб, 5 дек. 2026 г. в 10:12, Name <addr>:`, `05.12.2026, 10:12, "Name" <addr>:`), an address right before
/// the colon.
fn attribution_line(line: &str) -> bool {
    let Some(rest) = line.strip_suffix(':').or_else(|| line.strip_suffix('：')) else { return false };
    line.len() < 1600
        && line.chars().count() < 400
        && (WROTE.iter().any(|w| line.contains(w)) && line.chars().any(|c| c.is_ascii_digit() || c == '@')
            || rest.trim_end().ends_with('>') && line.contains('@') && line.chars().any(|c| c.is_ascii_digit()))
}

/// A line between what a sender wrote and a quoted message's header block: a rule (`_____`, `-----`, as
/// clients write a horizontal rule in text), or "-----Original Message-----" and its translations.
fn separator(line: &str) -> bool {
    line.chars().all(|c| matches!(c, '-' | '_' | '=' | '*' | '─' | '━' | '—')) && line.chars().count() >= 3
        || original_message(line)
}

fn original_message(line: &str) -> bool {
    (line.starts_with("---") || line.starts_with("___") || line.starts_with("===")) && {
        let lower = line.to_lowercase();
        ORIGINAL_MESSAGE.iter().any(|m| lower.contains(m))
    }
}

/// The field a header-like line (`From: …`) names, in the languages clients write a quoted header block in.
fn header_field(line: &str) -> Option<Field> {
    // Enough for the longest name; a bold name made text is `*From:*`.
    let line = line.trim_start().trim_start_matches('*');
    let start = &line[..line.char_indices().nth(16).map_or(line.len(), |(at, _)| at)];
    if !start.contains([':', '：']) {
        return None;
    }
    let start = start.to_lowercase().replace(['\u{A0}', '\u{202F}'], " ");
    FIELDS.iter().find(|(_, names)| names.split('|').any(|n| start.starts_with(n))).map(|(field, _)| *field)
}

/// Where the header block of a quoted message starting at `lines[i]` ends, if one starts there: Outlook's
/// `From:` then, within a few lines, `Sent:`/`Date:` and `To:`/`Subject:`; or Hotmail's, which starts with
/// `Date:` and has a `Subject:` too.
fn header_block(lines: &[&str], i: usize) -> Option<usize> {
    let first = header_field(lines.get(i)?)?;
    let window: Vec<Field> = lines[i..lines.len().min(i + 6)].iter().filter_map(|l| header_field(l)).collect();
    let has = |f: Field| window.contains(&f);
    let block = has(Field::From)
        && has(Field::Sent)
        && (has(Field::To) || has(Field::Subject))
        && (first == Field::From || first != Field::Cc && has(Field::Subject));
    if !block {
        return None;
    }
    // Its end: past its fields and the lines that continue them.
    let mut end = i + 1;
    while end < lines.len().min(i + 12)
        && !blank(lines[end])
        && (header_field(lines[end]).is_some() || lines[end].starts_with([' ', '\t']))
    {
        end += 1;
    }
    Some(end)
}

/// The lines that end what a sender wrote, whatever follows them: the line every ticket e-mail opens with, a
/// signature, "-----Original Message-----", a forwarded message, and the automatic "Sent from my iPhone".
fn ends_new_text(line: &str, next: Option<&str>) -> bool {
    let lower = line.to_lowercase();
    line.contains(REPLY_ABOVE.trim_matches('-').trim())
        || line == "--"
        || original_message(line)
        || lower.starts_with("begin forwarded message")
        || line.starts_with("---") && FORWARDED.iter().any(|f| lower.contains(f))
        || line.len() >= 10
            && line.chars().all(|c| c == '_')
            && next.is_some_and(|n| header_field(n) == Some(Field::From))
        || line.len() < 400 && {
            // "Sent from Mail<https://…> for Windows 10": a link written out in the line.
            let plain = without_links(&lower);
            SENT_FROM.iter().any(|s| plain.starts_with(s)) && plain.chars().count() < 80
        }
}

/// A line without the `<…>` in which mail clients write out a link.
fn without_links(line: &str) -> String {
    let mut plain = String::with_capacity(line.len());
    let mut in_link = false;
    for c in line.chars() {
        match c {
            '<' => in_link = true,
            '>' if in_link => in_link = false,
            c if !in_link => plain.push(c),
            _ => {}
        }
    }
    plain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_new_text_is_what_is_above_the_first_line_that_ends_it() {
        for (body, expected) in [
            ("Thanks!\n\nOn Mon, 1 Dec 2026 at 09:13, Support <s@example.com> wrote:\n> Hello", "Thanks!"),
            ("Thanks!\nOn Mon, 1 Dec 2026 at 09:13, Support <s@example.com>\nwrote:\n> Hello", "Thanks!"),
            ("Merci\n\nLe lun. 1 déc. 2026 à 09:13, Support <s@example.com> a écrit :\n> Bonjour", "Merci"),
            ("Danke\n\nAm 01.12.2026 um 09:13 schrieb Support <s@example.com>:\n> Hallo", "Danke"),
            ("Yes.\n\n-----Original Message-----\nFrom: Support\nSent: Monday\nTo: me", "Yes."),
            ("Yes.\n\n________________________________\nFrom: Support <s@example.com>\nSent: Monday", "Yes."),
            ("Yes.\n\nFrom: Support <s@example.com>\nSent: Monday, 1 December 2026 09:13\nTo: Me\nSubject: x", "Yes."),
            ("Ok\n\nSent from my iPhone\n\n> On 1 Dec 2026, at 09:13, Support wrote:", "Ok"),
            ("Ok\n-- \nJane Doe\nACME", "Ok"),
            ("Top\n\n-- Reply above this line --\n\nWe received your ticket", "Top"),
            ("> quoted first\nmy answer\n> quoted again\nmore", "my answer\nmore"),
            ("好的，谢谢\n\n在 2026年12月1日 09:13，Support <s@example.com> 写道：\n> 你好", "好的，谢谢"),
            ("\n\n  \nJust this\n\n\n", "Just this"),
            ("On second thought, no.\nBye", "On second thought, no.\nBye"),
            ("Here is what I wrote:\nmy notes", "Here is what I wrote:\nmy notes"),
        ] {
            assert_eq!(new_text(body), expected, "{body:?}");
        }
    }

    #[test]
    fn attribution_lines_in_other_languages_and_orders_are_taken_out() {
        for attribution in [
            "сб, 5 дек. 2026 г. в 10:12, Support <s@example.com>:",
            "5 декабря 2026 г., 10:12 пользователь Support <s@example.com> написал:",
            "05.12.2026, 10:12, \"Support\" <s@example.com>:",
            "Суббота, 5 декабря 2026, 10:12 +03:00 от Support <s@example.com>:",
            "2026-12-05 10:12 GMT+01:00 Support <s@example.com>:",
            "05.12.2026 10:12, Support пишет:",
            "Dne 5. 12. 2026 v 10:12 Support <s@example.com> napsal(a):",
            "El sáb, 5 dic 2026 a las 10:12, Support (<s@example.com>) escribió:",
            // Wrapped by the client inside the address, or before the verb.
            "On Sat, 5 Dec 2026 at 10:12, Support <\ns@example.com> wrote:",
            "сб, 5 дек. 2026 г. в 10:12, Support <\ns@example.com>:",
            "Le sam. 5 déc. 2026, 10:12, Support <s@example.com>\na écrit :",
        ] {
            let body = format!("Спасибо!\n\n{attribution}\n\n> -- Reply above this line --\n> Hello");
            assert_eq!(new_text(&body), "Спасибо!", "{attribution:?}");
            // Above the original pasted unquoted, it ends the new text.
            let body = format!("Спасибо!\n\n{attribution}\n-- Reply above this line --\nHello");
            assert_eq!(new_text(&body), "Спасибо!", "{attribution:?}");
        }
    }

    #[test]
    fn header_blocks_in_the_languages_outlook_writes_them_in_end_the_new_text() {
        for block in [
            "From: Support <s@example.com> \nSent: Saturday, December 5, 2026 10:12 AM\nTo: Jane\nSubject: Pricing",
            "Von: Support [mailto:s@example.com] \nGesendet: Samstag, 5. Dezember 2026 10:12\nAn: Jürgen\nBetreff: x",
            "De : Support <s@example.com>\nEnvoyé : samedi 5 décembre 2026 10:12\nÀ : Claire\nObjet : Tarifs",
            "De\u{A0}: Support\nEnvoyé\u{A0}: samedi 5 décembre 2026 10:12\nÀ\u{A0}: Claire\nObjet\u{A0}: Tarifs",
            "De: Support <s@example.com>\nEnviado: sábado, 5 de diciembre de 2026 10:12\nPara: Ana\nAsunto: Precios",
            "От: Support <s@example.com> \nОтправлено: 5 декабря 2026 г. 10:12\nКому: Иван\nТема: Цены",
            "От:\u{A0}Support\nОтправлено:\u{A0}суббота, 5 декабря 2026 г. 10:12\nКому:\u{A0}Иван",
            "Da: Support <s@example.com>\nInviato: sabato 5 dicembre 2026 10:12\nA: Marco\nOggetto: Prezzi",
            // Hotmail's, which starts with the date, under its `<hr>`.
            "Date: Sat, 5 Dec 2026 10:12:00 +0100\nSubject: Pricing\nFrom: s@example.com\nTo: jane@example.com",
            // Windows Mail's, links written out.
            "From: Support<mailto:s@example.com>\nSent: 05 December 2026 10:12\nTo: Jane<mailto:j@example.com>",
            "*From:* Support <s@example.com>\n*Sent:* Saturday, December 5, 2026 10:12 AM\n*To:* Jane",
        ] {
            for separator in ["", "________________________________\n", "-----Original Message-----\n", "---\n"] {
                let body = format!("Fine.\n\n{separator}{block}\n\n-- Reply above this line --\nHello");
                assert_eq!(new_text(&body), "Fine.", "{separator}{block:?}");
                let body = format!("Fine.\n\n{separator}{block}\nHello, the plan costs 12 EUR.");
                assert_eq!(new_text(&body), "Fine.", "{separator}{block:?}");
            }
        }
        for separator in
            ["-----Ursprüngliche Nachricht-----", "-----Исходное сообщение-----", "-----Message d'origine-----"]
        {
            assert_eq!(new_text(&format!("Fine.\n\n{separator}\nHello")), "Fine.", "{separator}");
        }
    }

    #[test]
    fn what_is_written_below_or_between_quotes_is_kept() {
        for (body, expected) in [
            // Bottom posting, as Thunderbird writes it.
            (
                "On 12/5/26 10:12, Support wrote:\n> -- Reply above this line --\n>\n> Hello\n\nThanks, that helps.\n\nJane",
                "Thanks, that helps.\n\nJane",
            ),
            // Between a quote and a signature.
            ("05.12.2026 10:12, Support пишет:\n> Hello\n\nСпасибо.\n\n-- \nИван\nООО Пример", "Спасибо."),
            // Interleaved: the blank lines around a quote taken out become one.
            (
                "On Sat, 2026-12-05 at 10:12 +0100, Support wrote:\n> One?\n\nYes.\n\n> Two?\n\nNo.\n\n> Bye",
                "Yes.\n\nNo.",
            ),
            // A header block above `>` lines (Outlook's "prefix each line") is taken out with them.
            ("From: Support\nSent: Saturday\nTo: Jane\nSubject: x\n\n> Hello\n\nBelow.", "Below."),
            ("-----Original Message-----\nFrom: Support\nSent: Monday\nTo: me\n> Hello\nBelow.", "Below."),
            // A quote of the sender's own, not introduced by an attribution.
            ("Here is what I wrote:\n> my notes\nand more", "Here is what I wrote:\nand more"),
            // An attribution quoted itself (Apple Mail) is a quoted line like the others.
            ("Top.\n\n> On 5 Dec 2026, at 10:12, Support wrote:\n> \n> Hello\n\nBottom.", "Top.\n\nBottom."),
        ] {
            assert_eq!(new_text(body), expected, "{body:?}");
        }
        // What only looks like the end of the text, inside a quote, ends nothing.
        let body =
            "On 1 Dec 2026, Support wrote:\n> -- \n> Sent from my iPhone\n> From: a\n> Sent: b\n> To: c\n\nStill mine.";
        assert_eq!(new_text(body), "Still mine.");
        assert_eq!(new_text("\n\nOn Mon wrote 1 Dec:\n> all quoted\n"), "", "nothing new: nothing recorded");
    }

    #[test]
    fn automatic_lines_end_the_new_text_with_their_links_written_out() {
        for line in [
            "Sent from Mail<https://go.microsoft.com/fwlink/?LinkId=550986> for Windows 10",
            "Sent with [Proton Mail](https://proton.me/mail/home) secure email.",
            "Отправлено из мобильной Почты Mail.ru",
            "Gesendet von Mail für Windows",
        ] {
            assert_eq!(new_text(&format!("Ok.\n\n{line}\n\nFrom: x")), "Ok.", "{line:?}");
        }
    }

    #[test]
    fn the_end_is_found_when_a_line_ends_the_text_or_the_read_part_ends_in_a_quote() {
        assert_eq!(new_text_and_end("Ok\n-- \nJane"), ("Ok".to_owned(), true));
        assert_eq!(new_text_and_end("Ok\n\nOn 1 Dec 2026, Support wrote:\n> Hel"), ("Ok".to_owned(), true));
        assert_eq!(new_text_and_end("Ok, and then I thought"), ("Ok, and then I thought".to_owned(), false));
        assert_eq!(new_text_and_end("> Hello\n\nOk, and then"), ("Ok, and then".to_owned(), false));
    }

    #[test]
    fn reading_is_linear_whatever_the_lines() {
        let started = std::time::Instant::now();
        let attributions = "On 1 Dec 2026, Support wrote:\n\n> x\n".repeat(20_000) + "mine";
        assert_eq!(new_text(&attributions), "mine");
        let fields = "From: a\nCc: b\n".repeat(20_000);
        assert_eq!(new_text(&fields).lines().count(), 40_000);
        let blanks = format!("mine{}", "\n".repeat(200_000));
        assert_eq!(new_text(&blanks), "mine");
        let wrapped = "On x <\n".repeat(20_000);
        assert_eq!(new_text(&wrapped).lines().count(), 20_000);
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    }
}
