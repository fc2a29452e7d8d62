"""Command: python -m ocr_viz.bench (the heads' cost in ocr_viz.cost.bench; browser | load | allocators, the
served app's benchmarks, in ocr_viz.serving.benchmarks; official, the official HRNet-OCR code against
our trace, in ocr_viz.cost.official_bench)."""
import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["browser"], ["load"], ["allocators"]):  # the served app's benchmarks
        from .serving.benchmarks import main as serving_main
        return serving_main(argv)
    if argv[:1] == ["official"]:
        from .cost.official_bench import main as official_main
        return official_main(argv)
    from .cost.bench import main as cost_main
    return cost_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
