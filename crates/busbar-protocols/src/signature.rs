//! Where a reasoning signature came from, so that one vendor's signature is
//! never sent to another.
//!
//! Thinking signatures (Anthropic, Bedrock), Gemini's thought signatures and
//! Responses' encrypted reasoning are opaque proofs that only the vendor who
//! wrote them accepts back. On a translated hop the client receives a
//! signature from another protocol than its own, and sends it back on the
//! next turn, which may go to a different lane after a failover.
//!
//! * A reply translated from another protocol (`ReplyOptions::egress`)
//!   reaches the client with each signature prefixed by that protocol's
//!   name, `gemini:CiQB…` ([`mark_response`], [`Marking`] for streams,
//!   both applied by `Protocol`'s reply encoders). Responses' own
//!   `responses:{id}:{…}` form already is one. A Gemini client, whose
//!   signatures are base64 bytes, gets the prefixed text base64-encoded
//!   ([`for_gemini_client`]).
//! * A request encoder sends a signature only to its origin: one prefixed
//!   with its own name, prefix removed; an unprefixed one only when the
//!   client speaks this protocol too (`RequestOptions::ingress`), since then
//!   it came straight from this vendor. Any other is left out.
//!
//! * A same-protocol hop relays the body untouched, so a request carrying a
//!   marked signature is translated instead ([`carries_marked`]): the
//!   encoder then strips or drops it as above.
//!
//! Without the options (library use, the tests of one format) signatures pass
//! as they are.

use std::borrow::Cow;
use std::collections::HashSet;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use busbar_ir::{BlockDelta, BlockStart, ContentBlock, Response, StreamEvent};

use crate::{Protocol, StreamEncoder};

/// The origin prefix of `signature` and the signature after it, when it has
/// one.
fn origin_of(signature: &str) -> Option<(Protocol, &str)> {
    let (name, rest) = signature.split_once(':')?;
    Some((Protocol::from_name(name)?, rest))
}

/// `signature` as a client of `own` protocol receives it from a reply that
/// came from `egress`: prefixed with the origin unless that is `own`, no
/// origin is known, or it carries one already.
pub(crate) fn for_client<'a>(
    signature: &'a str,
    own: Protocol,
    egress: Option<Protocol>,
) -> Cow<'a, str> {
    match egress {
        Some(egress) if egress != own && origin_of(signature).is_none() => {
            Cow::Owned(format!("{}:{signature}", egress.name()))
        }
        _ => Cow::Borrowed(signature),
    }
}

/// A signature as a Gemini client receives it: one marked with another
/// origin goes as the base64 of its text, which [`from_gemini_client`] reads
/// back.
pub(crate) fn for_gemini_client(signature: &str) -> Cow<'_, str> {
    if origin_of(signature).is_some() {
        Cow::Owned(STANDARD.encode(signature))
    } else {
        Cow::Borrowed(signature)
    }
}

/// `response` with its signatures marked for a client of `own` protocol
/// (borrowed as it is when nothing needs marking).
pub(crate) fn mark_response(
    response: &Response,
    own: Protocol,
    egress: Option<Protocol>,
) -> Cow<'_, Response> {
    let needs = |signature: &Option<String>| {
        signature
            .as_deref()
            .is_some_and(|s| matches!(for_client(s, own, egress), Cow::Owned(_)))
    };
    let any = response.content.iter().any(|block| match block {
        ContentBlock::Thinking { signature, .. } | ContentBlock::ToolUse { signature, .. } => {
            needs(signature)
        }
        _ => false,
    });
    if !any {
        return Cow::Borrowed(response);
    }
    let mut marked = response.clone();
    for block in &mut marked.content {
        if let ContentBlock::Thinking { signature, .. } | ContentBlock::ToolUse { signature, .. } =
            block
        {
            if let Some(s) = signature.as_mut() {
                *s = for_client(s, own, egress).into_owned();
            }
        }
    }
    Cow::Owned(marked)
}

/// A stream encoder for a client of `own` protocol whose stream comes from
/// `egress`: each signature is marked with its origin before the inner
/// encoder writes it.
pub(crate) struct Marking {
    inner: Box<dyn StreamEncoder>,
    own: Protocol,
    egress: Protocol,
    /// Blocks whose signature began already: later pieces are appended.
    signed: HashSet<usize>,
}

impl Marking {
    pub(crate) fn new(inner: Box<dyn StreamEncoder>, own: Protocol, egress: Protocol) -> Self {
        Self {
            inner,
            own,
            egress,
            signed: HashSet::new(),
        }
    }
}

impl StreamEncoder for Marking {
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        let marked = match event {
            StreamEvent::BlockStart {
                index,
                block:
                    BlockStart::ToolUse {
                        id,
                        name,
                        signature: Some(signature),
                    },
            } => Some(StreamEvent::BlockStart {
                index: *index,
                block: BlockStart::ToolUse {
                    id: id.clone(),
                    name: name.clone(),
                    signature: Some(
                        for_client(signature, self.own, Some(self.egress)).into_owned(),
                    ),
                },
            }),
            StreamEvent::BlockDelta {
                index,
                delta: BlockDelta::ThinkingSignature(piece),
            } if self.signed.insert(*index) => Some(StreamEvent::BlockDelta {
                index: *index,
                delta: BlockDelta::ThinkingSignature(
                    for_client(piece, self.own, Some(self.egress)).into_owned(),
                ),
            }),
            _ => None,
        };
        self.inner.encode(marked.as_ref().unwrap_or(event), out);
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        self.inner.finish(out);
    }
}

/// A Gemini client's thought signature: the prefixed text Busbar wrapped in
/// base64, or the signature as it is.
pub(crate) fn from_gemini_client(signature: &str) -> Cow<'_, str> {
    let unwrapped = STANDARD
        .decode(signature)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|text| origin_of(text).is_some());
    unwrapped.map_or(Cow::Borrowed(signature), Cow::Owned)
}

/// Whether a request body of `own` protocol may carry a signature Busbar
/// marked with another origin. A cheap scan for the marks' openings: a
/// string that merely starts like one costs a translation, never a lost
/// signature.
pub(crate) fn carries_marked(own: Protocol, body: &[u8]) -> bool {
    let own_wire = own.wire();
    if !own_wire.carries_signatures() {
        return false;
    }
    marks()
        .iter()
        .filter(|mark| mark.origin != own)
        .map(|mark| {
            if own_wire.signatures_in_base64() {
                &mark.base64
            } else {
                &mark.text
            }
        })
        .any(|mark| memchr::memmem::find(body, mark.as_bytes()).is_some())
}

/// How a signature marked with one origin begins inside a JSON body.
struct Mark {
    origin: Protocol,
    /// `"name:`, the prefixed text.
    text: String,
    /// `"` and the base64 of the name's first whole three-byte groups, which
    /// every base64-wrapped mark (for clients whose signatures are base64)
    /// begins with.
    base64: String,
}

/// The marks of every protocol whose signatures travel in requests.
fn marks() -> &'static [Mark] {
    static MARKS: std::sync::OnceLock<Vec<Mark>> = std::sync::OnceLock::new();
    MARKS.get_or_init(|| {
        Protocol::ALL
            .into_iter()
            .filter(|protocol| protocol.wire().carries_signatures())
            .map(|origin| {
                let name = origin.name();
                let whole = name.len() / 3 * 3;
                Mark {
                    origin,
                    text: format!("\"{name}:"),
                    base64: format!("\"{}", STANDARD.encode(&name.as_bytes()[..whole])),
                }
            })
            .collect()
    })
}

/// The signature to send to an upstream of `own` protocol, or `None` when it
/// belongs to another vendor. `ingress` is the client's protocol, when known.
pub(crate) fn for_upstream(
    signature: &str,
    own: Protocol,
    ingress: Option<Protocol>,
) -> Option<&str> {
    match origin_of(signature) {
        Some((origin, rest)) => (origin == own).then_some(rest),
        None => match ingress {
            Some(ingress) if ingress != own => None,
            _ => Some(signature),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_open_with_the_name_or_its_base64() {
        let find = |origin| marks().iter().find(|mark| mark.origin == origin);
        let anthropic = find(Protocol::Anthropic).expect("Anthropic signs");
        assert_eq!(
            (anthropic.text.as_str(), anthropic.base64.as_str()),
            ("\"anthropic:", "\"YW50aHJvcGlj")
        );
        assert_eq!(find(Protocol::Bedrock).expect("signs").base64, "\"YmVkcm9j");
        assert_eq!(find(Protocol::Gemini).expect("signs").base64, "\"Z2VtaW5p");
        assert_eq!(
            find(Protocol::Responses).expect("signs").base64,
            "\"cmVzcG9uc2Vz"
        );
        assert!(find(Protocol::OpenAi).is_none() && find(Protocol::Cohere).is_none());
    }

    #[test]
    fn a_foreign_signature_is_prefixed_once_and_goes_home_only() {
        let tagged = for_client("CiQB", Protocol::Anthropic, Some(Protocol::Gemini));
        assert_eq!(tagged, "gemini:CiQB");
        assert_eq!(
            for_client(&tagged, Protocol::Anthropic, Some(Protocol::Bedrock)),
            "gemini:CiQB"
        );
        // The client's own vendor, or no translation: untouched.
        assert_eq!(
            for_client("EqQB", Protocol::Anthropic, Some(Protocol::Anthropic)),
            "EqQB"
        );
        assert_eq!(for_client("EqQB", Protocol::Anthropic, None), "EqQB");

        assert_eq!(
            for_upstream(&tagged, Protocol::Gemini, Some(Protocol::Anthropic)),
            Some("CiQB")
        );
        assert_eq!(
            for_upstream(&tagged, Protocol::Anthropic, Some(Protocol::Anthropic)),
            None
        );
        // Unprefixed: the client's own vendor wrote it.
        assert_eq!(
            for_upstream("EqQB", Protocol::Anthropic, Some(Protocol::Anthropic)),
            Some("EqQB")
        );
        assert_eq!(
            for_upstream("EqQB", Protocol::Bedrock, Some(Protocol::Anthropic)),
            None
        );
        assert_eq!(for_upstream("EqQB", Protocol::Bedrock, None), Some("EqQB"));
    }

    #[test]
    fn marked_signatures_are_found_in_request_bodies() {
        let anthropic = br#"{"messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"bedrock:EqQB"}]}]}"#;
        assert!(carries_marked(Protocol::Anthropic, anthropic));
        let own = br#"{"signature":"EqQB","text":"anthropic: a word"}"#;
        assert!(!carries_marked(Protocol::Anthropic, own));
        let gemini = format!(
            r#"{{"thoughtSignature": "{}"}}"#,
            for_gemini_client("anthropic:EqQB")
        );
        assert!(carries_marked(Protocol::Gemini, gemini.as_bytes()));
        assert!(!carries_marked(
            Protocol::Gemini,
            br#"{"thoughtSignature": "CiQB"}"#
        ));
        assert!(!carries_marked(Protocol::OpenAi, anthropic));
    }

    #[test]
    fn gemini_clients_get_base64_and_give_it_back() {
        let wrapped = for_gemini_client("anthropic:EqQB");
        assert_eq!(from_gemini_client(&wrapped), "anthropic:EqQB");
        // Gemini's own signatures pass both ways untouched.
        assert_eq!(for_gemini_client("CiQB"), "CiQB");
        assert_eq!(from_gemini_client("CiQB"), "CiQB");
    }

    #[test]
    fn replies_are_marked_once_streamed_or_not() {
        let response = Response::new(
            "r",
            "m",
            vec![
                ContentBlock::thinking("hmm", Some("EqQB".into())),
                ContentBlock::text("hi"),
            ],
        );
        let marked = mark_response(&response, Protocol::Gemini, Some(Protocol::Anthropic));
        assert!(matches!(
            &marked.content[0],
            ContentBlock::Thinking { signature: Some(s), .. } if s == "anthropic:EqQB"
        ));
        assert!(matches!(
            mark_response(&response, Protocol::Anthropic, Some(Protocol::Anthropic)),
            Cow::Borrowed(_)
        ));

        // Streamed in two pieces: only the first is prefixed.
        let mut encoder = Marking::new(
            Protocol::Anthropic.stream_encoder(&crate::ReplyOptions::new(0)),
            Protocol::Anthropic,
            Protocol::Bedrock,
        );
        let mut out = Vec::new();
        let delta = |piece: &str| StreamEvent::BlockDelta {
            index: 0,
            delta: BlockDelta::ThinkingSignature(piece.into()),
        };
        for event in [
            StreamEvent::BlockStart {
                index: 0,
                block: BlockStart::Thinking,
            },
            delta("Eq"),
            delta("QB"),
            StreamEvent::BlockStop { index: 0 },
        ] {
            encoder.encode(&event, &mut out);
        }
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(r#""signature":"bedrock:EqQB""#), "{text}");
    }
}
