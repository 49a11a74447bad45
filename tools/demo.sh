#!/usr/bin/env bash
# The main job, end to end: install, build, make demo data, ingest it, answer
# queries. Synthetic CT studies are generated, embedded by the shipped model
# (embed/models/ctdb-synth-small: trained by `ctdb train` on synthetic
# phantoms, for demonstration and testing only, not for clinical use) and
# searched; a second database of 5,000 synthetic vectors shows filters and
# index switching at scale.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/bootstrap.sh
bash tools/build.sh
ctdb=build/ctdb
db=demo-data/db
rm -rf demo-data
echo "== synthesize 60 chest CT studies in CT-RATE's layout and inspect them"
$ctdb synth --out demo-data/ct --n 60 --seed 7
$ctdb inspect demo-data/ct
$ctdb inspect demo-data/ct/train/train_1/train_1_a/train_1_a_1.nii.gz
head -c 600 demo-data/ct/train_reports.csv; echo; echo
model=embed/models/ctdb-synth-small
echo "== the shipped model: hybrid CNN-ViT image encoder + text encoder, trained on synthetic phantoms"
$ctdb model info $model
echo; echo "== ingest the CT-RATE folder: volume, report, sentences, slabs, disease features per study"
$ctdb ingest demo-data/ct --db demo-data/ctdb --model $model
$ctdb stats --db demo-data/ctdb
echo; echo "== studies whose images are nearest to train_1_a_1's"
$ctdb search --db demo-data/ctdb --like train_1_a_1 --k 3
echo; echo "== evaluation of the shipped model on these 60 studies (none of them seen in training)"
$ctdb eval --db demo-data/ctdb --model $model | tail -6
M="--db demo-data/ctdb --model $model"
echo; echo "== queries of every kind"
echo "-- text -> image, with the z (mm) of the best-matching slab"
$ctdb search text "large right pleural effusion" $M --k 3
echo "-- image -> image, by stored key; then scoped to one disease's query-token features"
$ctdb search image --key train_1_a_1 $M --k 3
$ctdb search image --key train_1_a_1 --disease "Pleural effusion" $M --k 3
echo "-- image -> image, by a volume file"
$ctdb search image --file demo-data/ct/valid/valid_1/valid_1_a/valid_1_a_1.nii.gz $M --k 3
echo "-- disease: one inner-product search with p+ - p- (diagnosis-aware prompts)"
$ctdb search disease "Pleural effusion" $M --k 3 --filter "age=40-"
echo "-- reports matching a text, with the best sentence"
$ctdb search report "enlarged heart" $M --k 3
echo "-- classify, localize, draft a report"
$ctdb classify train_1_a_1 $M | head -6
echo "-- where the model's nodule detector looks: the best candidate (x, y from the field of view's centre, LPS)"
$ctdb classify train_1_a_1 $M | grep "detection" | head -3
$ctdb localize train_1_a_1 "nodule in the right upper lobe" $M | head -4
$ctdb report train_1_a_1 $M
echo "-- the disease catalog: edit phrases, compute exemplars"
$ctdb diseases set "Pneumothorax" --positive "Pneumothorax.|There is a right pneumothorax." --negative "No pneumothorax." $M
$ctdb diseases exemplars $M
$ctdb diseases $M | head -4
echo; echo "== REST: serve on loopback with API keys, query it, stop with SIGTERM (drains, snapshots)"
printf 'demo-read-key-0123456789 read\ndemo-write-key-0123456789 write\n' > demo-data/keys
$ctdb serve $M --port 18080 --api-keys demo-data/keys > demo-data/serve.log 2>&1 &
server=$!
for _ in $(seq 1 60); do curl -sf http://127.0.0.1:18080/healthz >/dev/null && break; sleep 0.5; done
auth="Authorization: Bearer demo-read-key-0123456789"
curl -s -H "$auth" -X POST http://127.0.0.1:18080/v1/search/text -d '{"text":"pleural effusion","k":2}'; echo
curl -s -H "$auth" http://127.0.0.1:18080/v1/studies/train_1_a_1/classify | head -c 300; echo
curl -s -X POST http://127.0.0.1:18080/v1/search/text -d '{"text":"x"}'; echo "   <- no key"
curl -s -H "$auth" -X DELETE http://127.0.0.1:18080/v1/studies/train_1_a_1; echo "   <- read key on a write"
curl -s -H "$auth" -o demo-data/slice.png -w "slice thumbnail: HTTP %{http_code}, %{size_download} bytes PNG\n" \
  "http://127.0.0.1:18080/v1/studies/train_1_a_1/slice.png?window=lung"
curl -s -H "$auth" http://127.0.0.1:18080/metrics | grep "^ctdb_http_requests_total" | head -3
kill -TERM $server; wait $server
echo; echo "== backup and restore"
$ctdb backup --db demo-data/ctdb --out demo-data/backup
$ctdb restore --from demo-data/backup --db demo-data/restored
$ctdb stats --db demo-data/restored | head -2
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
