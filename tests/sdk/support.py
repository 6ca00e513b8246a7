"""What the demo's mock upstreams answer, independent of any SDK.

`busbar demo` serves models backed by `busbar-testkit`'s mock upstreams, whose
replies are derived from the request alone (crates/busbar-testkit/src/behaviour.rs):

- tools defined and the last turn not a tool result: the text "Calling <name>."
  ("Calling a and b." for two) and then a call to the first tool, or to the first
  two when the last user text holds the word "parallel"; arguments built from the
  tool's JSON schema (strings "Paris", numbers 1, booleans true);
- last turn a tool result: "Tool result received: <content>" (several results are
  joined by spaces);
- otherwise "Echo: <last user text>";
- a stop sequence cuts the text before its first match; max tokens keeps that many
  words; usage counts whitespace-separated words (every input text in, reply out).

Whatever protocol the SDK speaks and whichever mock serves the lane, a lossless
gateway hands back exactly these answers, so every SDK module asserts against the
helpers here.
"""

from __future__ import annotations

# Every demo model that is a single mock upstream of one protocol (OpenAI Chat,
# Responses, Anthropic Messages, Gemini, Cohere v2, Bedrock Converse, Claude
# through Bedrock InvokeModel). Every parametrized test in every SDK module runs
# against each of them, so each module covers its ingress protocol against all
# seven egress protocols.
EGRESS: list[str] = [
    "demo-openai",
    "demo-responses",
    "demo-anthropic",
    "demo-gemini",
    "demo-cohere",
    "demo-bedrock",
    "demo-bedrock-invoke",
]

# The demo's pool over all of EGRESS.
POOL = "demo"

# A model name the demo does not serve.
UNKNOWN_MODEL = "no-such-model"

# The text the mock puts in a tool argument whose schema type is `string`.
STRING_ARGUMENT = "Paris"


def words(text: str) -> int:
    """The mock's token count: whitespace-separated words."""
    return len(text.split())


def echo(text: str) -> str:
    """The reply to a last user turn holding `text` (no tools, no limits)."""
    return f"Echo: {text}"


def tool_preamble(*tools: "Tool") -> str:
    """The text the mock says before calling `tools`."""
    return "Calling " + " and ".join(tool.name for tool in tools) + "."


def tool_result_reply(*results: str) -> str:
    """The reply to a turn that ends with tool results."""
    return "Tool result received: " + " ".join(results)


class Tool:
    """A tool definition with the arguments the mock will call it with."""

    def __init__(self, name: str, description: str, schema: dict, arguments: dict) -> None:
        self.name = name
        self.description = description
        self.schema = schema
        self.arguments = arguments

    @property
    def required(self) -> list[str]:
        return list(self.schema.get("required", []))

    def openai(self) -> dict:
        """As an OpenAI Chat Completions `tools[]` entry."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.schema},
        }

    def anthropic(self) -> dict:
        """As an Anthropic Messages `tools[]` entry."""
        return {"name": self.name, "description": self.description, "input_schema": self.schema}

    def responses(self) -> dict:
        """As an OpenAI Responses `tools[]` entry (flat, no `function` wrapper)."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.schema,
        }

    def gemini(self) -> dict:
        """As a Gemini `functionDeclarations[]` entry, its schema as JSON Schema."""
        return {"name": self.name, "description": self.description, "parameters_json_schema": self.schema}

    def cohere(self) -> dict:
        """As a Cohere v2 `tools[]` entry (OpenAI's shape)."""
        return self.openai()

    def bedrock(self) -> dict:
        """As a Bedrock Converse `toolConfig.tools[]` entry."""
        return {
            "toolSpec": {
                "name": self.name,
                "description": self.description,
                "inputSchema": {"json": self.schema},
            }
        }


WEATHER = Tool(
    name="get_weather",
    description="Current weather for a city.",
    schema={
        "type": "object",
        "properties": {"city": {"type": "string", "description": "City name"}},
        "required": ["city"],
    },
    arguments={"city": STRING_ARGUMENT},
)

CLOCK = Tool(
    name="get_time",
    description="Current local time in a time zone.",
    schema={
        "type": "object",
        "properties": {
            "timezone": {"type": "string", "description": "IANA time zone"},
            "hour24": {"type": "boolean"},
            "offset_hours": {"type": "integer"},
        },
        "required": ["timezone"],
    },
    arguments={"timezone": STRING_ARGUMENT, "hour24": True, "offset_hours": 1},
)

# Prompts and their exact answers.
PLAIN_PROMPT = "Say hello to the gateway"
TOOL_PROMPT = "What is the weather in Paris?"
PARALLEL_PROMPT = "Get the weather and the time in parallel please"
WEATHER_RESULT = "18C and sunny"
CLOCK_RESULT = "14:05"
SYSTEM_PROMPT = "You are a terse assistant."
COUNT_PROMPT = "one two three four five six"
STOP_SEQUENCE = "three"
# COUNT_PROMPT's echo cut before STOP_SEQUENCE (the trailing space stays).
STOPPED_TEXT = "Echo: one two "
# OpenAI's Responses API refuses `max_output_tokens` below 16 (and the mock with
# it), so every module's output limit is 16, on a prompt whose echo is longer.
MAX_TOKENS = 16
LONG_PROMPT = " ".join(f"w{n}" for n in range(1, 25))
# LONG_PROMPT's echo cut to MAX_TOKENS words.
TRUNCATED_TEXT = " ".join(f"Echo: {LONG_PROMPT}".split()[:MAX_TOKENS])


# --- how each egress treats stop sequences ---------------------------------------------------

# Egress protocols whose upstream says which stop sequence ended the reply
# (Anthropic's `stop_sequence`). The others report only a stop (OpenAI `stop`,
# Gemini `STOP`) or a stop without the sequence (Cohere `STOP_SEQUENCE`, Bedrock
# `stop_sequence`), so across them a gateway cannot name the sequence, and
# across the first kind a plain end is as right as a stop-sequence end.
NAMES_MATCHED_STOP = {"demo-anthropic", "demo-bedrock-invoke"}

# Egress protocols whose upstream reports that a stop sequence ended the reply,
# with or without naming it (Anthropic, Cohere `STOP_SEQUENCE`, Bedrock
# `stop_sequence`); an ingress format with such a reason must then give it.
REPORTS_STOP_SEQUENCE = {"demo-anthropic", "demo-cohere", "demo-bedrock", "demo-bedrock-invoke"}

# Egress protocols that have no stop sequences (Responses): the gateway drops
# them, names them in `x-busbar-dropped`, and the reply runs to its natural end.
DROPS_STOP_SEQUENCES = {"demo-responses"}
DROPPED_HEADER = "x-busbar-dropped"


def stop_expectation(egress: str) -> tuple[str, bool]:
    """The text COUNT_PROMPT gets with STOP_SEQUENCE set, and whether the stop was honoured."""
    if egress in DROPS_STOP_SEQUENCES:
        return echo(COUNT_PROMPT), False
    return STOPPED_TEXT, True
