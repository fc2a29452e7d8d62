#!/usr/bin/env bash
# Mutation smoke test: plant deliberate bugs, one at a time, in a throw-away copy of the committed
# tree (git archive HEAD; the work tree is never touched) and check that the tests meant to guard
# each one fail. First the untouched copy must pass the same tests, or "caught" would mean nothing.
#
#   bash scripts/mutation_smoke.sh            # every mutation (about 20 minutes on 2 quiet cores)
#   bash scripts/mutation_smoke.sh 3 6        # only mutations 3 and 6 (and only their tests unmutated)
#   SKIP_BASELINE=1 bash scripts/mutation_smoke.sh   # the unmutated run left out: only right after the
#                                             # whole suite passed on the same commit
#
# A mutation whose target text is no longer in the code is reported as NOT APPLIED (update this
# script), never as caught. Exit status: 0 when every applied mutation was caught.
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
export OCR_VIZ_DATA="${OCR_VIZ_DATA:-${OCR_VIZ_CAMVID:-$(dirname "$repo")/shared/data/camvid}}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
work="$(mktemp -d /tmp/ocr-viz-mutants.XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/copy"
git -C "$repo" archive HEAD | tar -x -C "$work/copy"
# the tests find ../shared (the official checkpoint fixtures) beside the repository, as in CI; without it
# they skip, and a skipped guard would let its mutation pass as MISSED
[ -e "$repo/../shared" ] && ln -s "$(cd "$repo/../shared" && pwd)" "$work/shared"
cd "$work/copy"

# name | file | text in the code | its replacement | tests that must fail
MUTATIONS=(
  "w: softmax over pixels instead of regions (Eq. 5)|ocr_viz/model/heads/ocr.py|return torch.softmax(kappa, dim=-1)|return torch.softmax(kappa, dim=1)|tests/test_ocr_equations.py"
  "m~: softmax over classes instead of pixels (Eq. 4)|ocr_viz/model/heads/ocr.py|\"b k h w -> b k (h w)\"), dim=-1)|\"b k h w -> b k (h w)\"), dim=1)|tests/test_ocr_equations.py"
  "kappa without the key scaling 1/sqrt(d) (Eq. 5)|ocr_viz/model/heads/ocr.py|\"b n d, b k d -> b n k\") * phi_x.shape[-1] ** -0.5|\"b n d, b k d -> b n k\")|tests/test_ocr_equations.py"
  "z = g([y; x]) instead of g([x; y]) (Eq. 6)|ocr_viz/model/heads/ocr.py|[y, x] if self.context_first else [x, y]|[x, y] if self.context_first else [y, x]|tests/test_ocr_equations.py"
  "relation page: clicked pixel's flat index off by one|pages/relation.py|i = row * arrays.grid[1] + col|i = row * arrays.grid[1] + col + 1|tests/test_app.py::test_choosing_a_class_and_a_pixel_changes_the_relation_page"
  "compare: attention row of the pixel one to the right|ocr_viz/analysis/compare.py|return pixel[0] * grid[1] + pixel[1]|return pixel[0] * grid[1] + pixel[1] + 1|tests/test_compare.py::test_attention_rows_and_ocrs_pixel_attention_are_distributions"
  "app arrays: feature maps laid out transposed|ocr_viz/model/arrays.py|else array.T).reshape(-1, *grid))|else array.T).reshape(-1, grid[1], grid[0]).swapaxes(1, 2))|tests/test_arrays.py"
  "evaluation: predicted label map flipped left-right|ocr_viz/training/evaluate.py|final.update(*mapped(pred, label))|final.update(*mapped(pred.flip(-1), label))|tests/test_evaluate.py::test_evaluate_matches_the_trace"
  "uniform relation leaves w as the model's|ocr_viz/analysis/interventions.py|torch.full_like(t.w, 1.0 / t.w.shape[-1])|t.w|tests/test_interventions.py tests/test_export.py"
  "queue: the newest job runs first, not the oldest|ocr_viz/app/compute.py|job = (self._waiting or self._background).pop(0)|job = (self._waiting or self._background).pop()|tests/test_serving.py::test_jobs_run_in_arrival_order_whoever_sent_them"
  "queue: a key in flight is computed again, not joined|ocr_viz/app/compute.py|job = self._jobs.get((kind, key))|job = None|tests/test_serving.py::test_the_same_key_asked_by_many_at_once_is_computed_once"
  "cache: bounded by entries only, bytes ignored|ocr_viz/app/compute.py|while self.total > self.max_bytes or len(self._entries) > self.max_entries:|while len(self._entries) > self.max_entries:|tests/test_serving.py::test_caches_are_bounded_by_bytes_dropping_the_least_recently_used"
  "cache: an array view charged nothing, its base forgotten|ocr_viz/app/compute.py|return nbytes(value.base, seen) if isinstance(value.base, np.ndarray) else value.nbytes|return 0 if isinstance(value.base, np.ndarray) else value.nbytes|tests/test_serving.py::test_a_cached_trace_is_charged_every_array_it_keeps_alive"
  "evaluation: the mirrored image's softmax not mirrored back (--flip)|ocr_viz/training/evaluate.py|probs = (probs + softmax_at(logits, size).flip(-1)) / 2|probs = (probs + softmax_at(logits, size)) / 2|tests/test_evaluate.py::test_flip_averages_with_the_mirrored_images_softmax_mirrored_back"
  "compare: ASPP's branch shares read at (col, row)|ocr_viz/analysis/compare.py|return run.contributions[:, pixel[0], pixel[1]]|return run.contributions[:, pixel[1], pixel[0]]|tests/test_compare.py::test_aspp_shares_are_read_at_the_clicked_pixel"
  "compare: OCR's w_i read at (col, row)|ocr_viz/analysis/compare.py|return arrays.w[:, pixel[0], pixel[1]]|return arrays.w[:, pixel[1], pixel[0]]|tests/test_compare.py::test_attention_rows_and_ocrs_pixel_attention_are_distributions"
  "share link: always model=ocr (the old bug)|ocr_viz/app/session.py|wanted[\"model\"] = link_model(model_key)|wanted[\"model\"] = SHIPPED_NAME|tests/test_app.py::test_every_model_choice_travels_in_the_link_and_back"
  "share link: ?model= ignored when a session opens (the old bug)|ocr_viz/app/session.py|st.session_state[MODEL] = model_from_link(params.get(\"model\"), model_choices)|st.session_state[MODEL] = SHIPPED|tests/test_app.py::test_every_model_choice_travels_in_the_link_and_back"
  "ground truth: any model scored against CamVid labels index by index (the old bug)|ocr_viz/data/class_maps.py|if [c.casefold() for c in model_classes] == [c.casefold() for c in truth_classes]:|if True:|tests/test_app.py::test_a_model_of_other_classes_gets_no_ground_truth_and_is_told_why"
  "convert CLI: --layout ignored|ocr_viz/convert.py|conversion = convert(args.src, args.layout, args.dataset)|conversion = convert(args.src, \"auto\", args.dataset)|tests/test_convert.py::test_cli_layout_that_is_not_the_files_fails_and_writes_nothing"
  "convert CLI: --dataset ignored|ocr_viz/convert.py|conversion = convert(args.src, args.layout, args.dataset)|conversion = convert(args.src, args.layout, None)|tests/test_convert.py::test_cli_an_ambiguous_class_count_asks_for_dataset_which_settles_it"
  "relation analysis: relative view divides by the mean over regions, not cells|ocr_viz/analysis/relation.py|w.mean(axis=(1, 2), keepdims=True)|w.mean(axis=0, keepdims=True)|tests/test_relation_analysis.py::test_the_statistics_equal_a_few_lines_of_numpy_on_the_same_frames"
  "training: resume leaves the optimizer fresh (no momentum)|ocr_viz/training/train.py|optimizer.load_state_dict(state[\"optimizer\"])|pass|tests/test_training.py::test_resume_restores_the_weights_and_the_optimizer_state"
  "training: resume leaves the weights as initialised|ocr_viz/training/train.py|model.load_state_dict(state[\"model\"])|pass|tests/test_training.py::test_resume_restores_the_weights_and_the_optimizer_state"
  "cache: the app's bounds in 10^6 bytes, not MiB|ocr_viz/app/model_choice.py|QUEUE.cache(_kind, _mb * compute.MB, while_held|QUEUE.cache(_kind, _mb * 10**6, while_held|tests/test_serving.py::test_the_apps_caches_evict_by_the_bytes_the_readme_gives"
  "click: the worked pixel queued behind other students' traces|ocr_viz/app/compute.py|hit = compute()  # in the caller's thread|hit = self.run(kind, key, compute)|tests/test_click_work.py::test_inline_work_is_done_while_the_only_slot_is_busy_and_is_cached"
  "evaluation: --flip mirrors the image top to bottom|ocr_viz/training/evaluate.py|logits, aux = model(x.flip(-1))|logits, aux = model(x.flip(-2))|tests/test_shipped_weights.py::test_flip_averaging_on_camvid_frames_equals_a_hand_computation"
  "compare: Pyramid-OC's own partition found at (col, row)|ocr_viz/analysis/compare.py|own = (pyramid_oc.partition_of(pixel[0], rows), pyramid_oc.partition_of(pixel[1], cols))|own = (pyramid_oc.partition_of(pixel[1], rows), pyramid_oc.partition_of(pixel[0], cols))|tests/test_ocnet_heads.py::test_compare_shows_pyramid_oc_inside_the_partition_at_every_level"
  "convert: parameters counted with BatchNorm's running statistics|ocr_viz/model/convert.py|if \"running_\" not in k and \"num_batches\" not in k|if \"num_batches\" not in k|tests/test_convert.py::test_w48_release_key_list_maps_completely"
  "complexity: paper-style FLOPs keep the modules the paper leaves out|ocr_viz/cost/complexity.py|return counts.get(root, 0) - sum(counts.get(f\"{root}.{name}\", 0) for name in excluded)|return counts.get(root, 0)|tests/test_compare.py::test_cost_rows_read_the_bench_reports"
  "share link: a converted file restored whatever its SHA-256|ocr_viz/app/session.py|elif here != sha.lower():|elif False:|tests/test_provenance.py::test_a_link_restores_the_converted_file_by_name_and_sha_or_says_why_not"
  "provenance: every converted file called trained|ocr_viz/app/sidebar.py|Provenance(\"unknown\", text + \"Not a known release|Provenance(\"trained\", text + \"Not a known release|tests/test_provenance.py::test_an_unknown_converted_file_is_not_called_trained"
  "class map: CamVid's Car scored as Cityscapes' car alone (truck, bus, train dropped)|ocr_viz/data/class_maps.py|\"Car\": (\"car\", \"truck\", \"bus\", \"train\"),|\"Car\": (\"car\",),|tests/test_truth_mapping.py"
  "palette: CIELAB with D50's white point, not sRGB's D65|ocr_viz/figures/palettes.py|xyz /= np.array([0.95047, 1.0, 1.08883])|xyz /= np.array([0.96422, 1.0, 0.82521])|tests/test_layout_and_samples.py::test_the_default_palette_is_far_more_distinct_than_camvids"
  "compare: every head keeps its own copy of the fused features|ocr_viz/analysis/compare.py|runs[name] = share_features(run, first)|runs[name] = run|tests/test_compare_memory.py"
  "queue: the idle hook never called once the queue empties|ocr_viz/app/compute.py|if left <= 0:|if False:|tests/test_idle_release.py::test_the_hook_runs_once_after_work_with_nothing_running_or_queued"
  "compare: a head given another model's backbone without comparing the weights|ocr_viz/analysis/compare.py|if model.backbone is donor.backbone or not same_backbone(model, donor):|if model.backbone is donor.backbone:|tests/test_compare_memory.py::test_share_backbone_refuses_different_weights"
  "labels kept in a byte whatever the number of classes|ocr_viz/model/arrays.py|np.uint8 if num_classes <= 256 else np.int32|np.uint8|tests/test_arrays.py::test_label_maps_are_kept_in_the_smallest_type_and_equal_the_models"
  "compare: a trace of another image reused as this image's|ocr_viz/analysis/compare.py|if name in models and np.array_equal(a.image, seen)}|if name in models}|tests/test_compare_memory.py::test_a_trace_the_app_holds_already_is_reused_not_computed_again"
  "load client: the replaced upload never deleted|ocr_viz/serving/wire_client.py|    if session.upload_delete_url:  # the frontend's order|    if False:  # the frontend's order|tests/test_serving.py::test_students_who_keep_their_session_upload_into_it_every_round"
  "server start: the startup heap not frozen|ocr_viz/serving/startup.py|    gc.freeze()|    pass|tests/test_allocator.py::test_the_server_process_freezes_what_it_imports_before_streamlit_starts"
  "new image: the previous run's fragments kept until the run ends|ocr_viz/app/model_choice.py|        forget_fragments()|        pass|tests/test_compare_memory.py::test_a_new_image_lets_go_of_the_sessions_old_trace_before_its_own_is_computed"
  "cache: a result another holds not found once out of the budget|ocr_viz/app/compute.py|        value = None if self._held is None else self._held.get(key)|        value = None|tests/test_serving.py::test_a_cache_while_held_finds_what_others_still_hold_and_pays_only_for_the_rest"
  "prefetch: an idle-time result pushes out what a user asked for|ocr_viz/app/compute.py|            cache.put(job.key, job.value, spare=job.background)|            cache.put(job.key, job.value)|tests/test_prefetch.py::test_a_spare_gives_way_to_a_newer_prefetch_only_once_it_is_older_than_spare_seconds"
  "prefetch: queued whether or not its cache has room|ocr_viz/app/compute.py| or self._background or not cache.fits():| or self._background:|tests/test_prefetch.py::test_a_prefetch_never_pushes_out_what_a_user_asked_for"
  "cache: a spare read by a user still replaceable|ocr_viz/app/compute.py|                self._spare.pop(key, None)  # read by a user: no longer a spare|                pass|tests/test_prefetch.py::test_a_spare_read_by_a_user_is_theirs"
  "replay: y and z read from the float16 copy, not recomputed|ocr_viz/model/arrays.py|    y, z = context(head, x, w, f)|    y, z = batch(arrays.y, device).float(), batch(arrays.z, device).float()|tests/test_teaching.py::test_a_replayed_head_trace_is_the_recorded_one"
  "norms: a float16 map summed in float16|ocr_viz/analysis/stats.py|np.linalg.norm(maps.astype(np.promote_types(maps.dtype, np.float32), copy=False), axis=0)|np.linalg.norm(maps, axis=0)|tests/test_arrays.py::test_y_and_z_are_kept_at_half_precision_and_summarised_in_full"
  "server: tcmalloc's free pages never handed back between jobs|ocr_viz/serving/allocator.py|            if free_pages_bytes() > above:|            if False:|tests/test_allocator.py::test_the_server_hands_tcmalloc_free_pages_back_past_the_threshold_without_waiting_for_a_job"
  "server start: the free-page watch not started|ocr_viz/serving/startup.py|    watch_free_pages()|    pass|tests/test_allocator.py::test_the_server_hands_tcmalloc_free_pages_back_past_the_threshold_without_waiting_for_a_job"
  "prefetch: a spare still shown never refreshed, so two images' comparisons replace each other|ocr_viz/app/compute.py|                cache.refresh(key)|                pass|tests/test_prefetch.py::test_a_spare_that_sessions_still_prefetch_stays_fresh"
  "training: OHEM keeps every pixel|ocr_viz/training/train.py|        hard = valid & (p_true <= threshold)|        hard = valid|tests/test_training.py::test_ohem_trains_on_the_hard_pixels_only"
)

replace() {  # replace(file, old, new): exactly one occurrence, or fail
  python - "$@" <<'EOF'
import sys
path, old, new = sys.argv[1:4]
text = open(path).read()
if text.count(old) != 1:
    sys.exit(f"expected the text once in {path}, found it {text.count(old)} times: {old!r}")
open(path, "w").write(text.replace(old, new))
EOF
}

selected=("$@")
# per run of tests: MUTATION_TIMEOUT seconds (a shared, loaded machine may need more); the unmutated
# copy runs every guarding test at once, so it gets three times as long
timeout_s="${MUTATION_TIMEOUT:-900}"
run_tests() { timeout "${2:-$timeout_s}" python -m pytest -q -x -p no:randomly -p no:cacheprovider $1 >"$work/log.txt" 2>&1; }

echo "copy of $(git -C "$repo" rev-parse --short HEAD) in $work; CamVid: $OCR_VIZ_DATA"
all_tests="" n=0
for m in "${MUTATIONS[@]}"; do
  n=$((n + 1))
  if [ ${#selected[@]} -gt 0 ] && [[ ! " ${selected[*]} " =~ " $n " ]]; then continue; fi
  IFS='|' read -r _ _ _ _ tests <<<"$m"; all_tests="$all_tests $tests"
done
if [ "${SKIP_BASELINE:-0}" = 1 ]; then  # only when the whole suite has just passed on this same commit
  echo "unmutated copy: not run (SKIP_BASELINE=1: the suite's own run on $(git -C "$repo" rev-parse --short HEAD) stands for it)"
elif ! run_tests "$(echo $all_tests | tr ' ' '\n' | sort -u | tr '\n' ' ')" $((3 * timeout_s)); then
  echo "the unmutated copy fails its tests; fix that first:"; tail -20 "$work/log.txt"; exit 2
else
  echo "unmutated copy: the guarding tests pass"
fi

missed=0 n=0 table=()
for m in "${MUTATIONS[@]}"; do
  n=$((n + 1))
  if [ ${#selected[@]} -gt 0 ] && [[ ! " ${selected[*]} " =~ " $n " ]]; then continue; fi
  IFS='|' read -r name file old new tests <<<"$m"
  cp "$file" "$work/original"
  if ! replace "$file" "$old" "$new" 2>"$work/why.txt"; then
    printf '%2d NOT APPLIED  %s: %s\n' "$n" "$name" "$(tail -1 "$work/why.txt")"; missed=$((missed + 1))
    table+=("$(printf '%2d | %-9s | %s | %s' "$n" "not applied" "$name" "$tests")"); continue
  fi
  started=$SECONDS
  run_tests "$tests"; rc=$?
  if [ "$rc" -eq 0 ]; then
    printf '%2d MISSED       %s (%s passed)\n' "$n" "$name" "$tests"; missed=$((missed + 1))
    table+=("$(printf '%2d | %-9s | %s | %s' "$n" MISSED "$name" "$tests")")
  elif [ "$rc" -ne 1 ] && [ "$rc" -ne 2 ]; then  # 124: out of time; 3-5: pytest's own errors, no test ran to the end
    printf '%2d UNDECIDED    %s (exit %s: %s)\n' "$n" "$name" "$rc" "$(tail -1 "$work/log.txt")"; missed=$((missed + 1))
    table+=("$(printf '%2d | %-9s | %s | %s' "$n" "exit $rc" "$name" "$tests")")
  else
    failed="$(grep -m1 -E '^FAILED|^ERROR' "$work/log.txt" | cut -c1-110)"
    printf '%2d caught       %s, in %ss: %s\n' "$n" "$name" "$((SECONDS - started))" "${failed:-$(tail -1 "$work/log.txt")}"
    table+=("$(printf '%2d | %-9s | %s | %s' "$n" caught "$name" "${failed:-$tests}")")
  fi
  cp "$work/original" "$file"
done
echo
echo " n | result    | planted bug | the test that failed (or should have)"
printf '%s\n' "${table[@]}"
echo
echo "$missed mutation(s) missed, undecided or not applied"
[ "$missed" -eq 0 ]
