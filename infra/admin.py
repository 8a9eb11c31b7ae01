"""Admin CLI of region packs (F-OP-1): load, dry-run diff, list versions, roll back; and the
analytics rebuild (F-AN-2).

    python -m infra.admin load regions/laixi [--dry-run] [--actor NAME] [--region CODE]
    python -m infra.admin diff regions/laixi            # = load --dry-run, with the full diff
    python -m infra.admin versions laixi
    python -m infra.admin rollback laixi 2
    python -m infra.admin rebuild [--region shenzhen] [--write]   # analytics counters from the case files
    python -m infra.admin archive-verify (--appeal ID | --day YYYY-MM-DD)   # sealed dossiers (归档)
    python -m infra.admin archive-shred [--dry-run]   # destroy personal data past retention
    python -m infra.admin reproject [--dry-run]      # GSIs to the spec's projections (infra/reindex.py)

Works against whatever AWS the environment points at: JIESU_TABLE, JIESU_REGION_BUCKET,
JIESU_STAGE (names the channel secrets), JIESU_REGION_CODE (the stack's region: another
region's pack is refused unless --allow-other-region) and, for the local stand-in, AWS_ENDPOINT_URL (moto
server). Validation errors are printed one per line as `file:line: field: message` and exit
with status 2; a concurrent change of the live version exits 3; `--json` prints one JSON
object instead of text. Large packs (more than PROGRESS_MIN_ROWS rows) show a progress bar
(read per file, validation checks, upload) on stderr.
"""
from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PROGRESS_MIN_ROWS = 1000
EXIT_INVALID, EXIT_CONFLICT, EXIT_NOT_FOUND, EXIT_MISMATCH = 2, 3, 4, 5


class _RichProgress:
    """Maps region_admin progress callbacks (stage, item, done, total) onto rich tasks."""

    def __init__(self, console):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console, transient=False)
        self.tasks: dict[tuple[str, str], int] = {}

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def __call__(self, stage: str, item: str, done: int, total: int) -> None:
        key = (stage, item if stage != "validate" else "checks")
        if key not in self.tasks:
            label = {"read": f"read {item}", "validate": "validate", "upload": "upload pack",
                     "commit": "commit"}.get(stage, f"{stage} {item}")
            self.tasks[key] = self.progress.add_task(label, total=max(total, 1))
        self.progress.update(self.tasks[key], completed=done, total=max(total, 1))


def _rows(pack_dir: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for p in pack_dir.glob("*.csv"))


def _actor(args) -> str:
    return args.actor or os.environ.get("JIESU_ADMIN_ACTOR") or f"cli:{getpass.getuser()}"


def _print_errors(errors, console_err) -> None:
    for e in errors:
        print(str(e), file=sys.stderr)
    print(f"{len(errors)} error(s); nothing was changed", file=sys.stderr)


def cmd_load(args, dry_run: bool, full_diff: bool) -> int:
    from rich.console import Console

    from chalicelib.services import region_admin as ra

    err = Console(stderr=True)
    pack_dir = Path(args.pack_dir)
    if not pack_dir.is_dir():
        print(f"{pack_dir}: not a folder", file=sys.stderr)
        return EXIT_INVALID
    show_bar = not args.no_progress and not args.json and (args.progress or _rows(pack_dir) >= PROGRESS_MIN_ROWS)
    try:
        if show_bar:
            with _RichProgress(err) as bar:
                result = ra.load(pack_dir, _actor(args), dry_run=dry_run, progress=bar, region=args.region,
                                 allow_other_region=args.allow_other_region)
        else:
            result = ra.load(pack_dir, _actor(args), dry_run=dry_run, region=args.region,
                             allow_other_region=args.allow_other_region)
    except ra.PackValidationError as exc:
        if args.json:
            print(json.dumps({"ok": False, "errors": [e.to_dict() for e in exc.errors]}, ensure_ascii=False))
        _print_errors(exc.errors, err)
        return EXIT_INVALID
    except ra.ConcurrentLoadError as exc:
        print(f"conflict: {exc.message}", file=sys.stderr)
        return EXIT_CONFLICT
    if args.json:
        print(json.dumps({"ok": True, **result.to_dict()}, ensure_ascii=False))
        return 0
    live = result.version
    if result.noop:
        print(f"{result.region}: unchanged; {live.catalog_version if live else '?'} stays live")
        return 0
    if dry_run:
        print(f"{result.region}: dry run; would load as v{result.next_version} "
              f"(live now: {live.catalog_version if live else 'none'})")
    else:
        print(f"{result.region}: loaded {live.catalog_version} ({live.s3_key})")
    for section, counts in result.diff.summary().items():
        print(f"  {section:<12} +{counts['added']} -{counts['removed']} ~{counts['changed']}")
    if full_diff:
        for line in result.diff.lines(limit=args.limit):
            print("  " + line)
    return 0


def cmd_versions(args) -> int:
    from chalicelib.services import region_admin as ra

    rows = ra.versions(args.region)
    if args.json:
        print(json.dumps([v.to_dict() for v in rows], ensure_ascii=False))
        return 0
    if not rows:
        print(f"{args.region}: no versions loaded")
        return 0
    for v in rows:
        counts = ", ".join(f"{k} {n}" for k, n in v.counts.items() if n)
        print(f"{'*' if v.live else ' '} {v.catalog_version:<14} {v.created_at}  {v.actor:<20} {counts}")
    return 0


def cmd_rollback(args) -> int:
    from chalicelib.domain.errors import NotFoundError
    from chalicelib.services import region_admin as ra

    try:
        v = ra.rollback(args.region, args.version, _actor(args))
    except NotFoundError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except ra.ConcurrentLoadError as exc:
        print(f"conflict: {exc.message}", file=sys.stderr)
        return EXIT_CONFLICT
    print(json.dumps(v.to_dict(), ensure_ascii=False) if args.json else f"{args.region}: {v.catalog_version} is live")
    return 0


def cmd_rebuild(args) -> int:
    """Recompute every analytics counter from the case files and compare with the stored ones
    (exit 5 on a mismatch); --write replaces them (and each appeal's analytics state)."""
    from chalicelib.bootstrap import bootstrap
    from chalicelib.services import analytics

    result = analytics.rebuild(bootstrap(), args.region, write=args.write)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(f"{result['region']}: {result['appeals']} appeals, {result['counters']} counters recomputed, "
              f"{result['stored']} stored, {result['mismatch_count']} mismatches"
              + (" (written)" if result["written"] else ""))
        for m in result["mismatches"]:
            print(f"  {m['counter']}: stored {m['stored']} recomputed {m['recomputed']}")
    return 0 if result["mismatch_count"] == 0 or args.write else EXIT_MISMATCH


def cmd_archive_verify(args) -> int:
    """Check sealed dossiers against their recorded SHA-256 and the case file's hash chain; exit 5
    on a mismatch (each printed), 4 when the appeal was never archived."""
    from chalicelib.bootstrap import bootstrap
    from chalicelib.services import archive
    from chalicelib.storage.archive_store import archive_parts

    p, parts = bootstrap(), archive_parts()
    if args.appeal:
        one = archive.verify_one(p, parts, args.appeal)
        result = {"checked": 1, "mismatch_count": 0 if one["ok"] else 1, "mismatches": [] if one["ok"] else [one]}
        if not one["ok"] and not parts.store.get_pointer(args.appeal):
            print(json.dumps(one, ensure_ascii=False) if args.json else one["problems"][0])
            return EXIT_NOT_FOUND
    else:
        result = archive.verify_day(p, parts, args.region or p.settings.region_code, args.day)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(f"{result['checked']} dossiers checked, {result['mismatch_count']} with mismatches")
        for m in result["mismatches"]:
            for problem in m["problems"]:
                print(f"  {problem}")
    return EXIT_MISMATCH if result["mismatch_count"] else 0


def cmd_archive_shred(args) -> int:
    """Crypto-shred the personal data of dossiers past their region's retention (each audited);
    --dry-run lists them and writes nothing."""
    from chalicelib.bootstrap import bootstrap
    from chalicelib.services import archive
    from chalicelib.storage.archive_store import archive_parts

    result = archive.shred(bootstrap(), archive_parts(), dry_run=args.dry_run, limit=args.limit)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        verb = "would be shredded" if args.dry_run else "shredded"
        print(f"{result['region']}: {len(result['due'])} dossiers {verb}")
        for d in result["due"]:
            print(f"  {d['appeal_id']} archived {d['archived_at']} retention ended {d['shred_due']}")
    return 0


def cmd_reproject(args) -> int:
    """Rebuild the table's GSIs whose projection differs from the spec's (infra/reindex.py);
    --dry-run prints the plan and the entries each index holds, changing nothing."""
    import boto3

    from chalicelib.settings import get_settings
    from infra.reindex import reproject

    s = get_settings()
    result = reproject(boto3.client("dynamodb", endpoint_url=s.endpoint_url), s.table_name, dry_run=args.dry_run)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        verb = "would be rebuilt" if args.dry_run else "rebuilt"
        print(f"{result['table']}: {result['count']} indexes {verb} ({result['entries']} entries)")
        for step in result["indexes"]:
            print(f"  {step['index']}: {step['from']} -> {step['to']} ({step['entries']} entries)")
    return 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m infra.admin", description="Jiesu region pack admin")
    ap.add_argument("--actor", help="who is acting (recorded on the version); default cli:<user>")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name, help_ in (("load", "validate and load a pack folder as the new live version"),
                        ("diff", "validate and show what loading would change (writes nothing)")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("pack_dir")
        p.add_argument("--region", help="region code (default: region.json or the folder name)")
        p.add_argument("--progress", action="store_true", help="always show the progress bar")
        p.add_argument("--no-progress", action="store_true")
        p.add_argument("--limit", type=int, default=20, help="diff lines shown per section")
        p.add_argument("--allow-other-region", action="store_true",
                       help="load a region other than the stack's JIESU_REGION_CODE (shared test stacks only)")
        if name == "load":
            p.add_argument("--dry-run", action="store_true")
            p.add_argument("--show-diff", action="store_true")
    p = sub.add_parser("versions", help="list loaded versions (* = live)")
    p.add_argument("region")
    p = sub.add_parser("rollback", help="make an earlier version live again")
    p.add_argument("region")
    p.add_argument("version", type=int)
    p = sub.add_parser("rebuild", help="recompute the analytics counters from the case files and compare")
    p.add_argument("--region", help="region code (default: the stack's JIESU_REGION_CODE)")
    p.add_argument("--write", action="store_true", help="replace the stored counters by the recomputed ones")
    p = sub.add_parser("archive-verify", help="verify a sealed dossier, or every dossier archived on a day")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--appeal", help="an appeal id")
    which.add_argument("--day", help="a UTC day, YYYY-MM-DD")
    p.add_argument("--region", help="region code (default: the stack's JIESU_REGION_CODE)")
    p = sub.add_parser("archive-shred", help="destroy the personal data of dossiers past retention")
    p.add_argument("--dry-run", action="store_true", help="list what would be shredded, write nothing")
    p.add_argument("--limit", type=int, default=100, help="dossiers per run")
    p = sub.add_parser("reproject", help="rebuild the GSIs whose projection differs from the spec's")
    p.add_argument("--dry-run", action="store_true", help="print the plan and the entries, change nothing")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.cmd == "load":
        return cmd_load(args, dry_run=args.dry_run, full_diff=args.show_diff or args.dry_run)
    if args.cmd == "diff":
        return cmd_load(args, dry_run=True, full_diff=True)
    if args.cmd == "versions":
        return cmd_versions(args)
    if args.cmd == "rebuild":
        return cmd_rebuild(args)
    if args.cmd == "archive-verify":
        return cmd_archive_verify(args)
    if args.cmd == "archive-shred":
        return cmd_archive_shred(args)
    if args.cmd == "reproject":
        return cmd_reproject(args)
    return cmd_rollback(args)


if __name__ == "__main__":
    sys.exit(main())
