bin/rollcall bench churn --rate 50 --warmup 120s --duration 600s --lifetime 1s --runs 1 --comparator bin/centrifuge-bench --pin
