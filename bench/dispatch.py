"""Dispatch-model speed: ms per classification (demo and synthetic 4,315-item catalog) and cold start.

A 2,000-character letter (made of the region's example texts) is timed on the synthetic catalog too.

Usage: python bench/dispatch.py [--region regions/shenzhen] [--items 4315] [--repeat 3]
The last stdout line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chalicelib.domain.catalog import CatalogItem  # noqa: E402
from chalicelib.domain.units import choose_unit  # noqa: E402
from chalicelib.nlp.classifier import Classifier, Example  # noqa: E402
from chalicelib.policy import build  # noqa: E402
from chalicelib.policy.pack.parse import read_pack  # noqa: E402

# Qualifiers that turn one demo leaf into several plausible finer leaves, the way the real
# 4,315-item list splits a duty by place or object.
_QUALIFIERS = ("城中村", "工业区", "学校周边", "商业区", "住宅小区", "公共场所", "农村地区",
               "交通干道", "涉外", "新建项目", "老旧小区", "口岸周边")

_COLD = """
import sys, time
t = time.perf_counter()
sys.path.insert(0, {root!r})
from chalicelib.policy import build
from chalicelib.policy.pack.parse import read_pack
clf = build.classifier(read_pack({region!r}))
clf.classify("小区门口的垃圾好几天没人清运了，臭气熏天")
print(time.perf_counter() - t)
"""


def synthetic_catalog(base: list[CatalogItem], examples: list[Example], n_items: int,
                      seed: int = 7) -> tuple[list[CatalogItem], list[Example]]:
    """A catalog of n_items leaves derived from the demo one, with examples spread over them."""
    rng = random.Random(seed)
    leaves = [it for it in base if not it.code.startswith("99")]
    by_code: dict[str, list[Example]] = {}
    for e in examples:
        by_code.setdefault(e.code, []).append(e)
    items: list[CatalogItem] = []
    exs: list[Example] = []
    for i in range(n_items):
        b = leaves[i % len(leaves)]
        copy = i // len(leaves)
        q = _QUALIFIERS[copy % len(_QUALIFIERS)]
        extra = rng.choice(leaves).keywords[:1]
        code = f"{b.code[:5]}.{copy:02d}{b.code[-3:]}"
        items.append(CatalogItem(code, b.level1, b.level2, f"{q}{b.item}", b.unit_type, b.unit_level,
                                 (*b.keywords, q, *extra)))
        for e in by_code.get(b.code, [])[:2]:
            exs.append(Example(f"{q}{e.text}", code))
    items.extend(it for it in base if it.code.startswith("99"))
    return items, exs


def long_letters(texts: list[str], n: int = 20, chars: int = 2000, seed: int = 3) -> list[str]:
    """Letters of `chars` characters made of the region's own example texts (no outside text)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts: list[str] = ["尊敬的领导：您好！"]
        while sum(map(len, parts)) < chars:
            parts.append(rng.choice(texts) + "。")
        out.append("".join(parts)[:chars])
    return out


def ms_per_call(fn, texts: list[str], repeat: int) -> float:
    fn(texts[0])
    t = time.perf_counter()
    for _ in range(repeat):
        for x in texts:
            fn(x)
    return (time.perf_counter() - t) * 1000 / (repeat * len(texts))


def cold_start(region: Path) -> tuple[float, float]:
    """(seconds inside the process, wall seconds of the whole fresh interpreter)."""
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _COLD.format(root=str(ROOT), region=str(region))],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1]), time.perf_counter() - t


def package_size(stage: str) -> dict:
    """Unzipped size of what Lambda deploys for the stage functions: layer + functions code
    (and the API's code); packages the stage first if build/<stage> is missing."""
    import subprocess
    import sys
    import zipfile

    out = ROOT / "build" / stage
    zips = ("layer-deployment.zip", "functions.zip", "deployment.zip")
    if not all((out / z).exists() for z in zips):
        subprocess.run([sys.executable, str(ROOT / "infra" / "render.py"), "--stage", stage], cwd=ROOT, check=True,
                       capture_output=True)
    sizes = {z: sum(i.file_size for i in zipfile.ZipFile(out / z).infolist()) for z in zips}
    zipped = {z: (out / z).stat().st_size for z in zips}
    mb = 1024 * 1024
    return {"package_unzipped_mb": round((sizes["layer-deployment.zip"] + sizes["functions.zip"]) / mb, 1),
            "package_zipped_mb": round((zipped["layer-deployment.zip"] + zipped["functions.zip"]) / mb, 1),
            "api_unzipped_mb": round((sizes["layer-deployment.zip"] + sizes["deployment.zip"]) / mb, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--region", default=ROOT / "regions" / "shenzhen", type=Path)
    ap.add_argument("--items", default=4315, type=int)
    ap.add_argument("--repeat", default=3, type=int)
    ap.add_argument("--stage", default="dev", help="the packaged stage whose size is reported")
    args = ap.parse_args(argv)
    region = args.region.resolve()
    texts = []
    for p in sorted((region / "examples").glob("*.jsonl")):
        with open(p, encoding="utf-8") as fh:
            texts += [json.loads(line) for line in fh if line.strip()]
    sample = random.Random(1).sample(texts, min(300, len(texts)))
    sample_texts = [r["text"] for r in sample]

    # Cold start: the region's pack parsed and its model built with the calibration it ships.
    cold_in, cold_wall = cold_start(region)

    pack = read_pack(region)
    clf = build.classifier(pack)
    demo_ms = ms_per_call(clf.classify, sample_texts, args.repeat)

    gaz = build.gazetteer(pack)
    units = build.unit_directory(pack)

    def dispatch(rec: dict) -> None:
        c = clf.classify(rec["text"])
        loc = gaz.resolve(rec.get("address", ""), rec["text"])
        choose_unit(clf.items[c.code], loc, units)

    t = time.perf_counter()
    for _ in range(args.repeat):
        for rec in sample:
            dispatch(rec)
    e2e_ms = (time.perf_counter() - t) * 1000 / (args.repeat * len(sample))

    training = build.training_set(pack)
    syn_items, syn_examples = synthetic_catalog(training.catalog, training.examples, args.items)
    t = time.perf_counter()
    # Every synthetic leaf carries the lexicon of the demo leaf it was derived from.
    lexicon = training.lexicon
    syn_lexicon = {it.code: lexicon[base] for it in syn_items if (base := f"{it.code[:5]}.{it.code[-3:]}") in lexicon}
    big = Classifier(syn_items, syn_examples, training.place_names, lexicon=syn_lexicon)
    big_build = time.perf_counter() - t
    big_ms = ms_per_call(big.classify, sample_texts, 1)
    big_letter_ms = ms_per_call(big.classify, long_letters(sample_texts), 1)

    result = {
        "ms_per_classification_demo": round(demo_ms, 3),
        "ms_per_dispatch_demo": round(e2e_ms, 3),
        "ms_per_classification_synthetic": round(big_ms, 3),
        "ms_per_letter_2000_synthetic": round(big_letter_ms, 3),
        "synthetic_items": len(syn_items),
        "synthetic_lexicon_phrases": sum(len(d) for docs in syn_lexicon.values() for d in docs),
        "synthetic_build_s": round(big_build, 3),
        "cold_start_s": round(cold_in, 3),
        "cold_start_process_wall_s": round(cold_wall, 3),
        "demo_items": len(clf.items),
        **package_size(args.stage),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
