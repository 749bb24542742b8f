bin/rollcall bench fanout --channels 100 --subscribers 100 --publishers 100 --payload 100 --rates 400,800,1000 --duration 5s --runs 3 --protocol sgc,pusher --pusher-comparator bench/soketi --pin
