"""Numbered, append-only schema migrations for the embedded SQLite database.

Never edit a migration that has shipped; add the next number.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE keys (
            id TEXT PRIMARY KEY,
            secret_hash TEXT NOT NULL,
            name TEXT NOT NULL,
            team TEXT,
            owner TEXT,
            models TEXT,
            metadata TEXT,
            created_at TEXT NOT NULL,
            expires_at TEXT,
            revoked_at TEXT
        );
        CREATE TABLE requests (
            id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            endpoint TEXT NOT NULL,
            key_id TEXT,
            team TEXT,
            model_requested TEXT,
            model_used TEXT,
            provider TEXT,
            target TEXT,
            stream INTEGER NOT NULL DEFAULT 0,
            status INTEGER NOT NULL,
            error_type TEXT,
            error_message TEXT,
            latency_ms REAL,
            overhead_ms REAL,
            upstream_ms REAL,
            first_byte_ms REAL,
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            cached_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_tokens INTEGER NOT NULL DEFAULT 0,
            reasoning_tokens INTEGER NOT NULL DEFAULT 0,
            tokens_estimated INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            price_source TEXT,
            price_input_mtok REAL,
            price_output_mtok REAL,
            workflow_id TEXT,
            workflow_name TEXT,
            execution_id TEXT,
            node_name TEXT,
            user TEXT,
            tags TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            finish_reason TEXT
        );
        CREATE INDEX requests_created_at ON requests (created_at);
        CREATE INDEX requests_key_created ON requests (key_id, created_at);
        CREATE INDEX requests_workflow_created ON requests (workflow_id, created_at);
        CREATE TABLE request_tags (
            request_id TEXT NOT NULL,
            tag TEXT NOT NULL,
            PRIMARY KEY (request_id, tag)
        );
        CREATE INDEX request_tags_tag ON request_tags (tag);
        CREATE TABLE attempts (
            request_id TEXT NOT NULL,
            number INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            target TEXT NOT NULL,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            kind TEXT NOT NULL,
            wait_ms REAL NOT NULL DEFAULT 0,
            latency_ms REAL NOT NULL DEFAULT 0,
            status INTEGER,
            error_type TEXT,
            outcome TEXT NOT NULL,
            PRIMARY KEY (request_id, number)
        );
        CREATE INDEX attempts_created_at ON attempts (created_at);
        """,
    ),
]
