bin/rollcall bench idle --conns 15000 --duration 10s --comparator bin/centrifuge-bench --runs 1 --pin
