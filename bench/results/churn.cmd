bin/rollcall bench churn --rate 50 --warmup 30s --duration 600s --lifetime 1s --comparator bin/centrifuge-bench --runs 1 --pin
