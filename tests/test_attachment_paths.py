"""Attachment paths are stored relative to ATTACHMENTS_DIR and resolved when served (a change of working
directory or a moved folder keeps every file), never leading outside it; migration 0011 moves old rows.
The operator opening a citizen's photo in the browser is in tests/test_browser_privacy.py."""
from __future__ import annotations

import os
from datetime import datetime, timezone

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from domain.db import alembic_config, make_engine, migrate
from ingest.media import store_bytes, stored_file
from tests.conftest import backend

SHA = "ab" + "0" * 62
OLD_ROWS = {  # stored path before 0011 -> after
    1: (f"ab/{SHA}.png", f"ab/{SHA}.png"),                                          # citizens' media: already relative
    2: (f"/srv/tlr/data/attachments/evidence/{SHA}.png", f"evidence/{SHA}.png"),   # evidence: absolute
    3: (f"data/attachments/evidence/{SHA}.jpg", f"evidence/{SHA}.jpg"),            # evidence under a relative dir
    4: (f"C:\\tlr\\attachments\\ab\\{SHA}.webp", f"ab/{SHA}.webp"),
    5: ("", ""),                                                                   # could not be fetched
    6: (None, None),                                                               # not fetched yet
    7: ("/etc/passwd", "/etc/passwd"),                                             # not ours: left, never served
}


def _engine(tmp_path, _pg_schema):
    if backend() == "postgresql":
        base = _pg_schema.split("?")[0]
        engine = make_engine(base)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS tlr_paths_0011 CASCADE"))
            conn.execute(text("CREATE SCHEMA tlr_paths_0011"))
        engine.dispose()
        return make_engine(base + "?options=-csearch_path%3Dtlr_paths_0011")
    return make_engine(f"sqlite:///{tmp_path / 'paths.db'}")


def test_migration_0011_moves_old_rows_to_paths_relative_to_the_attachments_folder(tmp_path, _pg_schema):
    engine = _engine(tmp_path, _pg_schema)
    cfg = alembic_config(engine)
    for head in ScriptDirectory.from_config(cfg).get_heads():
        if head != "0011_attachment_paths":
            command.upgrade(cfg, head)
    assert "public" not in {c["name"] for c in inspect(engine).get_columns("categories")}
    now = datetime(2026, 11, 23, tzinfo=timezone.utc).replace(tzinfo=None)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO agencies (code, name, kind, handles, active) VALUES ('DLH', 'DLH', 'dinas', '', true)"))
        conn.execute(text("INSERT INTO categories (code, label_id, label_en, agency_code, priority, emergency, active) "
                          "VALUES ('WASTE', 'Sampah', 'Waste', 'DLH', 'P3', false, true)"))
        conn.execute(text(
            "INSERT INTO reports (id, ticket, channel, external_id, kind, priority, agency_code, status, text, "
            "sla_policy_set, received_at, created_at, updated_at, transfer_count, needs_supervisor, is_demo) VALUES "
            "(1, 'TLR-2026-000001', 'app', 'laksa:1', 'COMPLAINT', 'P3', 'DLH', 'NEW', 'x', 'default', :t, :t, :t, 0, "
            "false, false)"), {"t": now})
        for row_id, (before, _) in OLD_ROWS.items():
            conn.execute(text("INSERT INTO attachments (id, report_id, filename, content_type, path, created_at) "
                              "VALUES (:id, 1, 'f', 'image/png', :path, :t)"), {"id": row_id, "path": before, "t": now})
    migrate(engine)
    with engine.connect() as conn:
        after = dict(conn.execute(text("SELECT id, path FROM attachments")).all())
        public = conn.execute(text("SELECT public FROM categories WHERE code = 'WASTE'")).scalar()
    assert after == {row_id: moved for row_id, (_, moved) in OLD_ROWS.items()}
    assert public in (False, 0)  # nothing is public until the seed reads data/categories.csv
    command.downgrade(cfg, "0011_attachment_paths@-1")
    assert "public" not in {c["name"] for c in inspect(engine).get_columns("categories")}
    engine.dispose()


def test_a_stored_path_is_served_from_the_attachments_folder_whatever_the_working_directory(tmp_path):
    root = tmp_path / "attachments"
    relative, _ = store_bytes(root, b"\x89PNG\r\n\x1a\nfoto", "image/png", "foto.png")
    assert not os.path.isabs(relative) and "\\" not in relative
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cwd = os.getcwd()
    try:
        os.chdir(elsewhere)  # the old code resolved the row's path against the working directory
        assert stored_file(root, relative) == (root / relative).resolve()
        moved = tmp_path / "moved"
        root.rename(moved)  # the folder moved (a new ATTACHMENTS_DIR): the rows still name their files
        assert stored_file(moved, relative).read_bytes().endswith(b"foto")
    finally:
        os.chdir(cwd)
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the web")
    (moved / "link.png").symlink_to(secret)
    for stored in ("../secret.txt", str(secret), "ab/../../secret.txt", "link.png", "", None, "ab", "\x00"):
        assert stored_file(moved, stored) is None, stored
