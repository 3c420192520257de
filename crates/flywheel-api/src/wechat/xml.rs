//! WeChat's callback XML: one `<xml>` element whose children are the fields, each text
//! or CDATA. Read into element name → text. A nested element (a WeCom push's list, such
//! as `<MemChangeList><Item>…</Item>…</MemChangeList>`) is read by its path below the
//! root, `MemChangeList.Item`, its repeated values one per line; a repeated top-level
//! name keeps its last value. No DTDs and no entity expansion beyond XML's five, so a
//! hostile document cannot grow.

use flywheel_core::wechat::Fields;
use quick_xml::Reader;
use quick_xml::events::Event;

/// The text of one list, at most.
const MAX_LIST: usize = 256 * 1024;

/// The fields of a callback document; the reason when it is not one.
pub fn fields(text: &str) -> Result<Fields, String> {
    let mut reader = Reader::from_str(text);
    let mut out = Fields::new();
    let mut path: Vec<String> = Vec::new();
    let mut value = String::new();
    let mut rooted = false;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                if path.len() >= 8 {
                    return Err("nested too deeply".into());
                }
                if path.is_empty() && e.local_name().as_ref() != b"xml" {
                    return Err("the document's root element is not <xml>".into());
                }
                rooted = true;
                path.push(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
                value.clear();
            }
            Ok(Event::Text(t)) => {
                let text = t.decode().map_err(|e| format!("unreadable text: {e}"))?;
                value.push_str(&text);
            }
            Ok(Event::GeneralRef(r)) => {
                if let Some(c) = r
                    .resolve_char_ref()
                    .map_err(|e| format!("unreadable character reference: {e}"))?
                {
                    value.push(c);
                } else {
                    let name = r
                        .decode()
                        .map_err(|e| format!("unreadable reference: {e}"))?;
                    let resolved = quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| format!("&{name}; is not one of XML's five entities"))?;
                    value.push_str(resolved);
                }
            }
            Ok(Event::CData(c)) => {
                value.push_str(&String::from_utf8_lossy(&c.into_inner()));
            }
            Ok(Event::End(_)) => {
                let depth = path.len();
                let name = path[1.min(depth)..].join(".");
                path.pop();
                let text = std::mem::take(&mut value);
                if depth > 2 {
                    // A list's item: kept with the others, one per line.
                    let items = out.entry(name).or_default();
                    if !items.is_empty() {
                        items.push('\n');
                    }
                    items.push_str(text.trim());
                    if items.len() > MAX_LIST {
                        return Err("a list longer than 256 KB".into());
                    }
                } else if depth == 2 {
                    out.insert(name, text);
                }
            }
            Ok(Event::Eof) => break,
            Ok(Event::DocType(_)) => return Err("a DOCTYPE is not allowed".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("not XML: {e}")),
        }
        if out.len() > 200 {
            return Err("more than 200 fields".into());
        }
    }
    if !path.is_empty() {
        return Err("not XML: an element is not closed".into());
    }
    if !rooted {
        return Err("not XML: no <xml> element".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_cdata_fields_are_read() {
        let f = fields(
            "<xml><ToUserName><![CDATA[gh_1]]></ToUserName>\n<CreateTime>1764979200</CreateTime>\
             <Content><![CDATA[a < b & c]]></Content><Title>x &amp; y</Title></xml>",
        )
        .unwrap();
        assert_eq!(f["ToUserName"], "gh_1");
        assert_eq!(f["CreateTime"], "1764979200");
        assert_eq!(f["Content"], "a < b & c");
        assert_eq!(f["Title"], "x & y");
    }

    #[test]
    fn a_lists_items_are_kept_one_per_line_under_their_path() {
        let f = fields(
            "<xml><ChatId><![CDATA[wr1]]></ChatId><MemChangeList>\n<Item><![CDATA[wmA]]></Item>\
             <Item> wmB </Item></MemChangeList><ChatId>wr2</ChatId></xml>",
        )
        .unwrap();
        assert_eq!(f["MemChangeList.Item"], "wmA\nwmB");
        assert_eq!(f["ChatId"], "wr2");
    }

    #[test]
    fn hostile_or_broken_documents_are_refused() {
        assert!(fields("<!DOCTYPE x [<!ENTITY a 'b'>]><xml><A>&a;</A></xml>").is_err());
        assert!(fields("<xml><A>1</A>").is_err());
        assert!(fields("not xml at all").is_err());
        assert!(fields("{}").is_err());
        assert!(fields("<html><A>1</A></html>").is_err());
        assert!(fields("<xml><A>&nbsp;</A></xml>").is_err());
        assert_eq!(
            fields("<xml><A>&#20320;&lt;</A></xml>").unwrap()["A"],
            "你<"
        );
        let deep = format!("<xml>{}</xml>", "<a>".repeat(20) + &"</a>".repeat(20));
        assert!(fields(&deep).is_err());
    }
}
