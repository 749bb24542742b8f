bin/rollcall bench churn --rate 50 --duration 120s --lifetime 1s --comparator bin/centrifuge-bench --runs 1 --pin
