bin/rollcall bench idle --conns 15000 --duration 10s --runs 3 --comparator bin/centrifuge-bench --pin
