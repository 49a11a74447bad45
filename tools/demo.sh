#!/usr/bin/env bash
# The main job, end to end: install, build, make demo data, ingest it, answer
# queries. Synthetic CT studies are generated, embedded by the CT encoder and
# searched. The model here is freshly initialized (untrained) until the
# training issue ships a trained one; a second database of 5,000 synthetic
# vectors shows filters and index switching at scale.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/bootstrap.sh
bash tools/build.sh
ctdb=build/ctdb
db=demo-data/db
rm -rf demo-data
echo "== synthesize 20 chest CT studies in CT-RATE's layout and inspect them"
$ctdb synth --out demo-data/ct --n 20 --seed 7
$ctdb inspect demo-data/ct
$ctdb inspect demo-data/ct/train/train_1/train_1_a/train_1_a_1.nii.gz
head -c 600 demo-data/ct/train_reports.csv; echo; echo
echo "== a model directory: hybrid CNN-ViT image encoder + text encoder (UNTRAINED weights)"
$ctdb model init --out demo-data/model --corpus demo-data/ct
$ctdb model info demo-data/model
echo; echo "== ingest the CT-RATE folder: volume, report, sentences, slabs, disease features per study"
$ctdb ingest demo-data/ct --db demo-data/ctdb --model demo-data/model
$ctdb stats --db demo-data/ctdb
echo; echo "== studies whose images are nearest to train_1_a_1's (untrained model: near chance)"
$ctdb search --db demo-data/ctdb --like train_1_a_1 --k 3
echo; echo "== evaluation with the model (untrained: chance-level numbers)"
$ctdb eval --db demo-data/ctdb --model demo-data/model | tail -4
echo
echo "== create a database (d=128, exact Flat index) and add 5000 synthetic studies"
$ctdb create --db "$db" --dim 128
$ctdb demo-vectors --db "$db" --n 5000 --dim 128 --seed 7
echo; echo "== stats"
$ctdb stats --db "$db"
first=$($ctdb list --db "$db" --limit 1)
echo; echo "== study $first"
$ctdb get --db "$db" "$first"
echo; echo "== patients most similar to $first (image vectors)"
$ctdb search --db "$db" --like "$first" --k 5
echo; echo "== same, women aged 50-80 scanned since 2021 with pleural effusion"
$ctdb search --db "$db" --like "$first" --k 5 --filter "sex=F,age=50-80,date=20210101-,label=Pleural effusion"
echo; echo "== nearest reports (report vectors), as JSON"
$ctdb search --db "$db" --like "$first" --kind report --k 3 --json
echo; echo "== studies whose report states pleural effusion (parsed statements, negations excluded)"
$ctdb search --db "$db" --like "$first" --k 3 --filter "finding=Pleural effusion"
echo; echo "== retrieval quality of the stored vectors"
$ctdb eval --db "$db" --limit 1000
echo; echo "== delete $first; it no longer appears"
$ctdb delete --db "$db" "$first"
$ctdb search --db "$db" --like "$($ctdb list --db "$db" --limit 1)" --k 3
echo; echo "== switch the index to HNSW32 (rebuilt from stored vectors) and search again"
$ctdb search --db "$db" --index HNSW32 --like "$($ctdb list --db "$db" --limit 1)" --k 3
$ctdb stats --db "$db"
