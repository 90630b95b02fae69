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
    (
        2,
        """
        CREATE TABLE breaker_state (
            target TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            failures INTEGER NOT NULL DEFAULT 0,
            window_start REAL NOT NULL DEFAULT 0,
            open_until REAL NOT NULL DEFAULT 0,
            reason TEXT,
            updated_at REAL NOT NULL
        );
        CREATE TABLE breaker_events (
            target TEXT NOT NULL,
            created_at TEXT NOT NULL,
            event TEXT NOT NULL,
            reason TEXT
        );
        CREATE INDEX breaker_events_created_at ON breaker_events (created_at);
        """,
    ),
    (
        3,
        # Cost control (gateway/control): budget and team-limit definitions, whose
        # changes bump control_meta's version so every worker reloads them; the
        # SQLite control store's counters, leases, rate windows and once-only claims;
        # the alerts sent; per-key limits; and the downgrade on each request row.
        """
        ALTER TABLE keys ADD COLUMN limits TEXT;
        ALTER TABLE requests ADD COLUMN downgraded_from TEXT;
        CREATE TABLE control_meta (
            name TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO control_meta (name, value) VALUES ('definitions', 1);
        CREATE TABLE budgets (
            id TEXT PRIMARY KEY,
            name TEXT,
            scope TEXT NOT NULL,
            subject TEXT NOT NULL,
            period TEXT NOT NULL,
            limit_usd REAL NOT NULL,
            alert_thresholds TEXT NOT NULL DEFAULT '[]',
            webhook_url TEXT,
            downgrade_to TEXT,
            downgrade_at REAL,
            source TEXT NOT NULL DEFAULT 'api',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX budgets_scope_subject ON budgets (scope, subject);
        CREATE TABLE team_limits (
            team TEXT PRIMARY KEY,
            limits TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TRIGGER budgets_inserted AFTER INSERT ON budgets BEGIN
            UPDATE control_meta SET value = value + 1 WHERE name = 'definitions';
        END;
        CREATE TRIGGER budgets_updated AFTER UPDATE ON budgets BEGIN
            UPDATE control_meta SET value = value + 1 WHERE name = 'definitions';
        END;
        CREATE TRIGGER budgets_deleted AFTER DELETE ON budgets BEGIN
            UPDATE control_meta SET value = value + 1 WHERE name = 'definitions';
        END;
        CREATE TRIGGER team_limits_inserted AFTER INSERT ON team_limits BEGIN
            UPDATE control_meta SET value = value + 1 WHERE name = 'definitions';
        END;
        CREATE TRIGGER team_limits_updated AFTER UPDATE ON team_limits BEGIN
            UPDATE control_meta SET value = value + 1 WHERE name = 'definitions';
        END;
        CREATE TRIGGER team_limits_deleted AFTER DELETE ON team_limits BEGIN
            UPDATE control_meta SET value = value + 1 WHERE name = 'definitions';
        END;
        CREATE TABLE control_counters (
            name TEXT PRIMARY KEY,
            spent INTEGER NOT NULL DEFAULT 0,
            reserved INTEGER NOT NULL DEFAULT 0,
            expires_at REAL
        ) WITHOUT ROWID;
        CREATE TABLE control_leases (
            counter TEXT NOT NULL,
            request_id TEXT NOT NULL,
            amount INTEGER NOT NULL,
            expires_at REAL NOT NULL,
            PRIMARY KEY (counter, request_id)
        ) WITHOUT ROWID;
        CREATE INDEX control_leases_expiry ON control_leases (expires_at);
        CREATE TABLE control_rate_windows (
            key TEXT PRIMARY KEY,
            hits INTEGER NOT NULL,
            expires_at REAL NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE control_claims (
            name TEXT PRIMARY KEY,
            claimed_at REAL NOT NULL,
            expires_at REAL
        ) WITHOUT ROWID;
        CREATE TABLE budget_alerts (
            id TEXT PRIMARY KEY,
            budget_id TEXT NOT NULL,
            subject TEXT NOT NULL,
            period_start TEXT NOT NULL,
            threshold REAL NOT NULL,
            spent_usd REAL NOT NULL,
            limit_usd REAL NOT NULL,
            exhausted INTEGER NOT NULL,
            webhook_host TEXT,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            response_status INTEGER,
            error TEXT,
            created_at TEXT NOT NULL,
            sent_at TEXT
        );
        CREATE INDEX budget_alerts_budget ON budget_alerts (budget_id, created_at);
        """,
    ),
]
