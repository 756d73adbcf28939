"""SQLite store for businesses, set templates, sets and modules.

Boundary: persistence only.  Every HTTP request runs in one transaction
(`with store.transaction() as tx:` = BEGIN IMMEDIATE ... COMMIT/ROLLBACK).
Uniqueness of (bk_parent_id, bk_set_name) is a real UNIQUE index, ids come
from a sequence table.  Validation and error codes live in `cmdb.py`.

One shared connection guarded by a lock: with `:memory:` this is the fastest
option and trivially serialisable; with `--db PATH` the file uses WAL and
synchronous=FULL so an acknowledged create survives kill -9.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .faults import Faults
from .world import IDLE_MODULES, IDLE_SET_NAME, World

# SQLite integers are 64-bit; an id outside that range can name no stored row.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

SEED_TIME = "2024-01-01T00:00:00+08:00"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS seq (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS businesses (
    bk_biz_id INTEGER PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS set_templates (
    id INTEGER PRIMARY KEY, bk_biz_id INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS service_templates (
    id INTEGER PRIMARY KEY, set_template_id INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sets (
    bk_set_id INTEGER PRIMARY KEY, bk_biz_id INTEGER NOT NULL,
    bk_parent_id, bk_set_name TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS idx_sets_biz ON sets (bk_biz_id);
CREATE TABLE IF NOT EXISTS modules (
    bk_module_id INTEGER PRIMARY KEY, bk_set_id INTEGER NOT NULL,
    bk_biz_id INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS idx_modules_set ON modules (bk_set_id);
"""

_UNIQUE = "CREATE UNIQUE INDEX IF NOT EXISTS idx_unique_parent_name ON sets (bk_parent_id, bk_set_name)"
_UNIQUE_NOCASE = (
    "CREATE UNIQUE INDEX IF NOT EXISTS idx_unique_parent_name_nocase "
    "ON sets (bk_parent_id, bk_set_name COLLATE NOCASE)"
)


class DuplicateName(Exception):
    """The (bk_parent_id, bk_set_name) unique index rejected an insert."""


class StoreError(Exception):
    """The database file cannot be opened or migrated."""


def _dumps(doc: Any) -> str:
    # ensure_ascii keeps any odd code point storable; sort_keys = CMDB's output order;
    # allow_nan=False: an Infinity stored would break every later read, so a bug must fail here.
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False)


class Tx:
    """Queries available inside one transaction."""

    __slots__ = ("_businesses", "_c")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn
        self._businesses: dict[int, dict[str, Any]] = {}

    def load_businesses(self) -> None:
        """Cache the business table (read once at start; no API changes it)."""
        rows = self._c.execute("SELECT bk_biz_id, doc FROM businesses").fetchall()
        self._businesses = {int(r[0]): json.loads(r[1]) for r in rows}

    # ids
    def next_id(self, name: str) -> int:
        """Take the next value of sequence `name` (never reused)."""
        row = self._c.execute(
            "UPDATE seq SET value = value + 1 WHERE name = ? RETURNING value", (name,)
        ).fetchone()
        return int(row[0])

    def max_set_id(self) -> int:
        """Largest existing bk_set_id (for the id-reuse fault)."""
        row = self._c.execute("SELECT COALESCE(MAX(bk_set_id), 0) FROM sets").fetchone()
        return int(row[0])

    # businesses and templates
    def business(self, biz_id: int) -> dict[str, Any] | None:
        """The business document with this id, or None (businesses never change at run time)."""
        doc = self._businesses.get(biz_id)
        return dict(doc) if doc is not None else None

    def businesses(self) -> list[dict[str, Any]]:
        """All business documents ordered by id."""
        rows = self._c.execute("SELECT doc FROM businesses ORDER BY bk_biz_id").fetchall()
        return [json.loads(r[0]) for r in rows]

    def set_template(self, biz_id: int, tpl_id: int) -> dict[str, Any] | None:
        """The set template `tpl_id` of business `biz_id`, or None."""
        row = self._c.execute(
            "SELECT doc FROM set_templates WHERE id = ? AND bk_biz_id = ?", (tpl_id, biz_id)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def set_templates(self, biz_id: int) -> list[dict[str, Any]]:
        """All set templates of a business ordered by id."""
        rows = self._c.execute(
            "SELECT doc FROM set_templates WHERE bk_biz_id = ? ORDER BY id", (biz_id,)
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def service_templates(self, set_template_id: int) -> list[dict[str, Any]]:
        """Service templates bound to a set template, ordered by id."""
        rows = self._c.execute(
            "SELECT doc FROM service_templates WHERE set_template_id = ? ORDER BY id",
            (set_template_id,),
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    # sets
    def insert_set(self, doc: dict[str, Any]) -> None:
        """Insert a set; raise DuplicateName if the unique index refuses it."""
        try:
            self._c.execute(
                "INSERT INTO sets (bk_set_id, bk_biz_id, bk_parent_id, bk_set_name, doc) "
                "VALUES (?, ?, ?, ?, ?)",
                (doc["bk_set_id"], doc["bk_biz_id"], doc.get("bk_parent_id"),
                 str(doc["bk_set_name"]), _dumps(doc)),
            )
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc) and "bk_set_id" not in str(exc):
                raise DuplicateName() from None
            raise

    def name_taken(self, parent: Any, name: str, exclude_id: int | None = None) -> bool:
        """Whether a set named `name` exists under `parent` (application-level check)."""
        row = self._c.execute(
            "SELECT 1 FROM sets WHERE bk_parent_id IS ? AND bk_set_name = ? AND bk_set_id IS NOT ?",
            (parent, name, exclude_id),
        ).fetchone()
        return row is not None

    def get_set(self, set_id: int) -> dict[str, Any] | None:
        """The set document with this id, or None (also for ids SQLite cannot hold)."""
        if not INT64_MIN <= set_id <= INT64_MAX:
            return None
        row = self._c.execute("SELECT doc FROM sets WHERE bk_set_id = ?", (set_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def sets_of_biz(self, biz_id: int) -> list[dict[str, Any]]:
        """All sets of a business ordered by id."""
        rows = self._c.execute(
            "SELECT doc FROM sets WHERE bk_biz_id = ? ORDER BY bk_set_id", (biz_id,)
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def sets_under_parent(self, parent_id: int) -> list[dict[str, Any]]:
        """All sets whose bk_parent_id is `parent_id`, whatever their business, ordered by id."""
        rows = self._c.execute(
            "SELECT doc FROM sets WHERE bk_parent_id = ? ORDER BY bk_set_id", (parent_id,)
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def update_set(self, doc: dict[str, Any]) -> None:
        """Rewrite a stored set; raise DuplicateName on a name collision."""
        try:
            self._c.execute(
                "UPDATE sets SET bk_set_name = ?, doc = ? WHERE bk_set_id = ?",
                (str(doc["bk_set_name"]), _dumps(doc), doc["bk_set_id"]),
            )
        except sqlite3.IntegrityError:
            raise DuplicateName() from None

    def delete_sets(self, set_ids: list[int]) -> None:
        """Delete sets and their modules."""
        self._c.executemany("DELETE FROM modules WHERE bk_set_id = ?", [(i,) for i in set_ids])
        self._c.executemany("DELETE FROM sets WHERE bk_set_id = ?", [(i,) for i in set_ids])

    # modules
    def insert_module(self, doc: dict[str, Any]) -> None:
        """Insert a module document."""
        self._c.execute(
            "INSERT INTO modules (bk_module_id, bk_set_id, bk_biz_id, doc) VALUES (?, ?, ?, ?)",
            (doc["bk_module_id"], doc["bk_set_id"], doc["bk_biz_id"], _dumps(doc)),
        )

    def modules_of_set(self, set_id: int) -> list[dict[str, Any]]:
        """Modules of a set ordered by id."""
        rows = self._c.execute(
            "SELECT doc FROM modules WHERE bk_set_id = ? ORDER BY bk_module_id", (set_id,)
        ).fetchall()
        return [json.loads(r[0]) for r in rows]


class Store:
    """The database: one connection, one lock, one transaction per request."""

    def __init__(self, world: World, faults: Faults, path: str = ":memory:") -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            if path != ":memory:":
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")
            else:
                self._conn.execute("PRAGMA synchronous=OFF")
            self._conn.executescript(_SCHEMA)
            self._apply_unique_index(faults)
            self._seed(world)
        except sqlite3.DatabaseError as exc:
            self._close_quietly()
            raise StoreError(f"cannot use database {path}: {exc}") from None
        except StoreError:
            self._close_quietly()
            raise
        self._tx = Tx(self._conn)
        self._tx.load_businesses()

    def _close_quietly(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.close()

    def _apply_unique_index(self, faults: Faults) -> None:
        # Seam of the state-duplicate-allowed / state-race-duplicate / state-case-insensitive-names faults.
        c = self._conn
        if faults.on("state-duplicate-allowed") or faults.on("state-race-duplicate"):
            c.execute("DROP INDEX IF EXISTS idx_unique_parent_name")
            c.execute("DROP INDEX IF EXISTS idx_unique_parent_name_nocase")
        elif faults.on("state-case-insensitive-names"):
            c.execute("DROP INDEX IF EXISTS idx_unique_parent_name")
            c.execute(_UNIQUE_NOCASE)
        else:
            c.execute("DROP INDEX IF EXISTS idx_unique_parent_name_nocase")
            c.execute(_UNIQUE)

    def _check_world(self, world: World) -> None:
        """An existing --db file keeps its own state, so it must hold the world it is started with."""
        c = self._conn
        stored = dict(c.execute("SELECT key, value FROM meta WHERE key IN ('world', 'world_source')").fetchall())
        if "world" not in stored:  # a file from before worlds were recorded: adopt this one
            c.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                          [("world", world.fingerprint), ("world_source", world.source)])
        elif stored["world"] != world.fingerprint:
            raise StoreError(
                f"{self.path} holds the world of {stored.get('world_source', 'another seed')} "
                f"(sha256 {stored['world'][:12]}), not that of {world.source} (sha256 {world.fingerprint[:12]}); "
                "start it with that seed, or use a new --db")

    def _check_finite(self) -> None:
        """A file written before non-finite numbers were refused may hold one; serving it would break every reader."""
        def non_finite(constant: str) -> None:
            raise ValueError(constant)

        bad: list[str] = []
        for table, key in (("sets", "bk_set_id"), ("modules", "bk_module_id")):
            rows = self._conn.execute(f"SELECT {key}, doc FROM {table} WHERE doc LIKE '%Infinity%' OR doc LIKE '%NaN%'").fetchall()
            for row_id, doc in rows:
                try:
                    json.loads(doc, parse_constant=non_finite)
                except ValueError:
                    bad.append(f"{key} {row_id}")
        if bad:
            shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
            raise StoreError(f"{self.path} holds non-finite numbers (Infinity or NaN, stored by an emulator from before they were "
                             f"refused) in {shown}; no JSON reader could read them back: use a new --db")

    def _seed(self, world: World) -> None:
        c = self._conn
        if c.execute("SELECT 1 FROM meta WHERE key = 'seeded'").fetchone():
            self._check_world(world)
            self._check_finite()
            return
        c.execute("BEGIN IMMEDIATE")
        try:
            module_id = 0
            for b in sorted(world.businesses, key=lambda b: b.bk_biz_id):
                c.execute("INSERT INTO businesses (bk_biz_id, doc) VALUES (?, ?)", (b.bk_biz_id, _dumps({
                    "bk_biz_id": b.bk_biz_id, "bk_biz_name": b.bk_biz_name,
                    "bk_supplier_account": b.bk_supplier_account, "default": b.default,
                    "bk_biz_maintainer": "admin", "bk_biz_productor": "admin",
                    "bk_biz_developer": "", "bk_biz_tester": "", "operator": "",
                    "language": "1", "life_cycle": "2", "time_zone": "Asia/Shanghai",
                    "bk_data_status": "enable", "create_time": SEED_TIME, "last_time": SEED_TIME,
                })))
                # Idle set id = business id: unique, and gives 蓝鲸 (2) its idle set 2.
                idle = {
                    "bk_set_id": b.bk_biz_id, "bk_set_name": IDLE_SET_NAME, "bk_biz_id": b.bk_biz_id,
                    "bk_parent_id": b.bk_biz_id, "default": 1, "bk_capacity": None,
                    "bk_service_status": "1", "bk_set_desc": "", "bk_set_env": "3",
                    "description": "", "set_template_id": 0, "set_template_version": None,
                    "bk_supplier_account": b.bk_supplier_account, "create_time": SEED_TIME,
                    "last_time": SEED_TIME, "bk_created_at": SEED_TIME, "bk_updated_at": SEED_TIME,
                    "bk_created_by": "admin", "bk_updated_by": None,
                }
                Tx(c).insert_set(idle)
                for name, flag in IDLE_MODULES:
                    module_id += 1
                    Tx(c).insert_module({
                        "bk_module_id": module_id, "bk_module_name": name, "bk_set_id": b.bk_biz_id,
                        "bk_biz_id": b.bk_biz_id, "bk_parent_id": b.bk_biz_id, "default": flag,
                        "service_template_id": 0, "set_template_id": 0, "service_category_id": 2,
                        "bk_supplier_account": b.bk_supplier_account,
                        "create_time": SEED_TIME, "last_time": SEED_TIME,
                    })
            for t in world.set_templates:
                owner = next(b.bk_supplier_account for b in world.businesses if b.bk_biz_id == t.bk_biz_id)
                c.execute("INSERT INTO set_templates (id, bk_biz_id, doc) VALUES (?, ?, ?)", (
                    t.id, t.bk_biz_id, _dumps({
                    "id": t.id, "name": t.name, "bk_biz_id": t.bk_biz_id, "creator": "admin",
                    "modifier": "admin", "create_time": SEED_TIME, "last_time": SEED_TIME,
                    "bk_supplier_account": owner,
                    })))
                for s in t.service_templates:
                    c.execute("INSERT INTO service_templates (id, set_template_id, doc) VALUES (?, ?, ?)", (
                        s.id, t.id, _dumps({
                        "id": s.id, "name": s.name, "service_category_id": s.service_category_id,
                        "bk_biz_id": t.bk_biz_id,
                    })))
            max_set = max([b.bk_biz_id for b in world.businesses], default=0)
            c.execute("INSERT INTO seq (name, value) VALUES ('set', ?), ('module', ?)", (max_set, module_id))
            c.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", [
                ("seeded", "1"), ("world", world.fingerprint), ("world_source", world.source)])
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """One serialised transaction; rolled back if the block raises."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._tx
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connection (waits for a running transaction)."""
        with self._lock:
            self._conn.close()
