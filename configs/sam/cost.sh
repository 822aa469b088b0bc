#!/usr/bin/env bash
# Cost of a classroom load on three deployments, side by side (make cost):
#
#   replaced  the described system: API Gateway WebSocket + a Node.js Lambda
#             handler that broadcasts each message to the room's connections
#             (read from ElastiCache) + ElastiCache
#   lambda    classgate on API Gateway + Lambda (configs/sam/template.yaml)
#   containers classgate's standalone nodes (the container image, Fargate
#             or EC2) behind a network load balancer, on ElastiCache
#
#   configs/sam/cost.sh                        the stated load (docs/LAMBDA.md quotes it)
#   CLASSROOMS=50 HOURS=6 configs/sam/cost.sh  another load
#   CURSOR_PER_S=4 PINGS=12 configs/sam/cost.sh  another class
#
# Every assumption is a variable here, with its default (us-east-1 list
# prices, checked November 2026). docs/LAMBDA.md "Cost model" quotes this
# script's output for the defaults, and cmd/apigw-emulator's
# TestCostDocumented checks that every line it prints is quoted there.
set -euo pipefail
awk \
	-v classrooms="${CLASSROOMS:-1000}" -v users="${USERS:-30}" -v hours="${HOURS:-8}" -v days="${DAYS:-22}" \
	-v cursor_per_s="${CURSOR_PER_S:-1}" -v chat="${CHAT:-300}" -v strokes="${STROKES:-600}" \
	-v pings="${PINGS:-0}" -v joins="${JOINS:-1}" -v probes="${PROBES:-6}" \
	-v lambda_ms="${LAMBDA_MS:-40}" -v lambda_gb="${LAMBDA_GB:-0.5}" \
	-v node_ms="${NODE_MS:-40}" -v node_gb="${NODE_GB:-1}" -v node_log_b="${NODE_LOG_BYTES:-200}" \
	-v nats="${NATS:-2}" -v nodes="${NODES:-}" -v deliveries_per_node="${DELIVERIES_PER_NODE:-10000}" '
function money(x) { return sprintf("$%.0f", x) }
function apigw(m) { return (m <= 1e9) ? m * msg_1 : 1e9 * msg_1 + (m - 1e9) * msg_2 }
BEGIN {
	# Prices (USD, us-east-1).
	msg_1 = 1.00 / 1e6            # API Gateway WebSocket message (≤ 32 KB), first billion a month
	msg_2 = 0.80 / 1e6            # above a billion a month
	connmin = 0.25 / 1e6          # per connection-minute
	req = 0.20 / 1e6              # Lambda request
	gbs_arm = 0.0000133334        # Lambda GB-s, arm64 (classgate)
	gbs_x86 = 0.0000166667        # Lambda GB-s, x86_64 (the replaced Node handler)
	nat_h = 0.045; nat_gb = 0.045 # NAT gateway hour, GB processed
	redis_h = 0.218               # cache.r7g.large; two (primary + replica), every deployment
	logs_gb = 0.50                # CloudWatch Logs ingestion
	out_gb = 0.09                 # data out to the internet
	node_h = 0.0725               # c7g.large (2 vCPU), one gateway node
	nlb_h = 0.0225; lcu_h = 0.006 # network load balancer hour, LCU-hour (≈ 1 GB/h processed)
	month_h = 730

	ch = classrooms * hours * days   # classroom-hours a month
	u = users
	# --- Activity per classroom-hour -------------------------------------
	cursor = cursor_per_s * 3600     # one presenter; ephemeral, sent without id (no ack)
	durable = chat + strokes         # each answered with an ack
	j = joins * u                    # joins (connect + join): API Gateway ends connections after 2 h
	p = pings * u                    # client pings (the client pings only after pingInterval without any frame)
	in_msgs = cursor + durable + p + j
	o_cursor = cursor * (u - 1)
	o_durable = durable * u          # every member, the sender included
	o_acks = durable
	o_pongs = p
	o_joins = j * 4 + j * 2 * (u - 1)   # joined + 3 join states; presence join and leave to the others
	o_probes = probes * u            # GetConnection lookups of connections silent for liveness_ttl (10m): at most 6 an hour
	out_msgs = o_cursor + o_durable + o_acks + o_pongs + o_joins + o_probes
	r_out = out_msgs - o_acks - o_probes   # the replaced handler: no acks, no lookups
	invocations = in_msgs + 3 * j          # + $connect, $disconnect, authorizer
	printf "activity per classroom-hour (%d users): client messages %d (cursor %d, chat + strokes %d, pings %d, joins %d)\n", u, in_msgs, cursor, durable, p, j
	printf "posts per classroom-hour: %d (cursor %d, chat + strokes %d, acks %d, pongs %d, joins and leaves %d, liveness lookups %d); replaced system %d\n", out_msgs, o_cursor, o_durable, o_acks, o_pongs, o_joins, o_probes, r_out

	# --- A month ---------------------------------------------------------
	l_m = (in_msgs + out_msgs) * ch; r_m = (in_msgs + r_out) * ch
	l_msgs = apigw(l_m); r_msgs = apigw(r_m)
	conn = u * 60 * ch * connmin
	l_fn = invocations * ch * req + (in_msgs * lambda_ms + 3 * j * 10) / 1000 * lambda_gb * ch * gbs_arm
	r_fn = invocations * ch * req + (in_msgs * node_ms + 3 * j * 10) / 1000 * node_gb * ch * gbs_x86
	# NAT: fixed per AZ, plus every post (≈ 2 KB with its SigV4 headers) and its answer.
	l_nat = nats * nat_h * month_h + out_msgs * 2000 / 1e9 * ch * nat_gb
	r_nat = nats * nat_h * month_h + r_out * 2000 / 1e9 * ch * nat_gb
	# Logs: Lambda platform lines (START/END/REPORT ≈ 300 B per invocation);
	# classgate: aggregated EMF (≈ 50 MB a school day), no line per message;
	# the Node handler: one application line per invocation, no EMF.
	l_logs = (invocations * 300 / 1e9 * ch + 0.05 * days) * logs_gb
	r_logs = invocations * (300 + node_log_b) / 1e9 * ch * logs_gb
	c_logs = 0.05 * days * logs_gb
	redis = 2 * redis_h * month_h
	out = out_msgs * 300 / 1e9 * ch * out_gb       # ≈ 300 B per frame to a client
	r_outd = r_out * 300 / 1e9 * ch * out_gb
	# Containers: nodes for the peak deliveries (10,000 a second a node;
	# docs/PERFORMANCE.md measured 15,000 at 0.6 core), two at least, on all
	# month; a network load balancer. No API Gateway, no NAT (the nodes
	# answer their clients directly), no acks billed.
	peak = classrooms * (out_msgs - o_probes) / 3600
	n = (nodes != "") ? nodes : int(peak / deliveries_per_node) + 1
	if (n < 2) n = 2
	c_nodes = n * node_h * month_h
	c_lb = nlb_h * month_h + (out_msgs * 300 / 1e9) * classrooms * lcu_h * hours * days
	r_total = r_msgs + conn + r_fn + r_nat + r_logs + redis + r_outd
	l_total = l_msgs + conn + l_fn + l_nat + l_logs + redis + out
	c_total = c_nodes + c_lb + c_logs + redis + out

	printf "load: %d classrooms x %d users, %d h a school day, %d school days a month (%d classroom-hours)\n", classrooms, u, hours, days, ch
	rate = classrooms * in_msgs / 3600
	printf "rate while classes run: %.0f client messages/s (peaks of 3x: %.0f/s), %.0f posts/s; %.0f concurrent invocations at %d ms (%.0f at peak)\n", rate, 3 * rate, classrooms * out_msgs / 3600, rate * lambda_ms / 1000, lambda_ms, 3 * rate * lambda_ms / 1000
	printf "| a month | replaced (Node handler) | classgate on Lambda | classgate on containers |\n| --- | ---: | ---: | ---: |\n"
	printf "| API Gateway messages | %s (%.2f billion) | %s (%.2f billion) | - |\n", money(r_msgs), r_m / 1e9, money(l_msgs), l_m / 1e9
	printf "| API Gateway connection-minutes | %s | %s | - |\n", money(conn), money(conn)
	printf "| Lambda requests + GB-s | %s (x86_64, %d MB, %d ms) | %s (arm64, %d MB, %d ms) | - |\n", money(r_fn), node_gb * 1024, node_ms, money(l_fn), lambda_gb * 1024, lambda_ms
	printf "| NAT gateways (%d) + processing | %s | %s | - |\n", nats, money(r_nat), money(l_nat)
	printf "| CloudWatch Logs | %s | %s | %s |\n", money(r_logs), money(l_logs), money(c_logs)
	printf "| gateway nodes (%d x c7g.large) + load balancer | - | - | %s |\n", n, money(c_nodes + c_lb)
	printf "| ElastiCache 2 x r7g.large | %s | %s | %s |\n", money(redis), money(redis), money(redis)
	printf "| data out | %s | %s | %s |\n", money(r_outd), money(out), money(out)
	printf "| **total a month** | **%s** | **%s** | **%s** |\n", money(r_total), money(l_total), money(c_total)
	printf "| a school day (month / %d) | %s | %s | %s |\n", days, money(r_total / days), money(l_total / days), money(c_total / days)
	printf "classgate on Lambda vs replaced: %+.1f%%; API Gateway messages are %.0f%% of the Lambda bill, cursor posts %.0f%% of its messages\n", (l_total / r_total - 1) * 100, l_msgs / l_total * 100, o_cursor / (in_msgs + out_msgs) * 100
	# Break-even, at a load small enough for the first API Gateway price tier
	# and the minimum two container nodes: what Lambda costs per
	# classroom-hour beyond containers (messages, connection-minutes,
	# invocations, NAT processing, platform logs, less the load balancer
	# LCUs) against what containers cost beyond Lambda when idle (nodes and
	# load balancer hours, less the NAT hours). Redis, data out and the EMF
	# floor are the same on both.
	per_ch = (in_msgs + out_msgs) * msg_1 + u * 60 * connmin + (l_fn + out_msgs * 2000 / 1e9 * ch * nat_gb + invocations * 300 / 1e9 * ch * logs_gb) / ch - out_msgs * 300 / 1e9 * lcu_h
	fixed = ((nodes != "") ? nodes : 2) * node_h * month_h + nlb_h * month_h - nats * nat_h * month_h
	printf "break-even: a classroom-hour costs $%.3f more on Lambda; containers cost less above %.0f classroom-hours a month (%.1f classrooms at %d h x %d days); at this load Lambda costs %.1fx the containers\n", per_ch, fixed / per_ch, fixed / per_ch / (hours * days), hours, days, l_total / c_total
}'
