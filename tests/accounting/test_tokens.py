from __future__ import annotations

import os
import subprocess
import sys

from gateway.accounting.tokens import (
    count_embedding_input_tokens,
    count_prompt_tokens,
    count_text_tokens,
    encoding_for,
)


def test_tiktoken_loads_its_encodings_with_no_network(tmp_path) -> None:
    # A fresh interpreter with an empty cache dir and no route to the internet: the
    # files must come from the package data, never from a download.
    code = (
        "from gateway.accounting.tokens import install_encodings, count_text_tokens\n"
        f"install_encodings({str(tmp_path)!r})\n"
        "import socket\n"
        "def refuse(*a, **k): raise OSError('network disabled in this test')\n"
        "socket.socket.connect = refuse\n"
        "names = ['gpt-4o', 'gpt-4', 'gpt-oss-120b', 'text-davinci-003', 'gpt2',\n"
        "         'davinci', 'code-davinci-002', 'text-embedding-ada-002',\n"
        "         'mistral-large-latest']\n"
        "print(*(count_text_tokens('hello world', name) for name in names))\n"
    )
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": ""}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2"] * 9
    assert len(os.listdir(tmp_path)) == 2


def test_encoding_is_chosen_per_model() -> None:
    assert encoding_for("gpt-4o-mini").name == "o200k_base"
    assert encoding_for("gpt-4").name == "cl100k_base"
    assert encoding_for("claude-sonnet-4-5").name == "o200k_base"
    # GPT-3-era encodings are not installed: the nearest installed one counts them.
    assert encoding_for("text-davinci-003").name == "cl100k_base"
    assert encoding_for("gpt2").name == "cl100k_base"


def test_prompt_tokens_follow_openais_chat_framing() -> None:
    body = {"messages": [{"role": "user", "content": "hello world"}]}

    # 3 reply primer + 3 per message + 1 role + 2 content tokens.
    assert count_prompt_tokens(body, "gpt-4o") == 9


def test_prompt_tokens_count_text_parts_images_and_tools() -> None:
    plain = {"messages": [{"role": "user", "content": "describe"}]}
    with_image = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "describe"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,AAAA"},
                    },
                ],
            }
        ]
    }
    with_tools = {
        **plain,
        "tools": [{"type": "function", "function": {"name": "lookup"}}],
    }

    base = count_prompt_tokens(plain, "gpt-4o")
    assert count_prompt_tokens(with_image, "gpt-4o") > base + 700
    assert count_prompt_tokens(with_tools, "gpt-4o") > base


def test_embedding_input_tokens() -> None:
    assert count_embedding_input_tokens({"input": "hello world"}, "m") == 2
    assert count_embedding_input_tokens({"input": ["hello", "world"]}, "m") == 2
    assert count_embedding_input_tokens({"input": [1, 2, 3]}, "m") == 3
    assert count_embedding_input_tokens({"input": [[1, 2], [3]]}, "m") == 3
    assert count_text_tokens("", "m") == 0
