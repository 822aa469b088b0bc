#!/usr/bin/env bash
# Monthly cost of classgate on API Gateway + Lambda and on containers, for a
# load given in classrooms (docs/LAMBDA.md "Cost at the stated load" quotes
# its output for the defaults; cmd/apigw-emulator's TestCostDocumented
# checks they agree).
#
#   configs/sam/cost.sh                       the stated load
#   CLASSROOMS=50 HOURS=6 configs/sam/cost.sh another load
#
# Every assumption is a variable below (us-east-1 list prices as quoted in
# docs/LAMBDA.md; the per-classroom-hour activity of its cost model).
set -euo pipefail
awk -v classrooms="${CLASSROOMS:-1000}" -v users="${USERS:-30}" -v hours="${HOURS:-8}" -v days="${DAYS:-22}" \
	-v cursor_per_s="${CURSOR_PER_S:-1}" -v chat="${CHAT:-300}" -v strokes="${STROKES:-600}" \
	-v lambda_ms="${LAMBDA_MS:-40}" -v lambda_gb="${LAMBDA_GB:-0.5}" \
	-v nodes="${NODES:-}" -v deliveries_per_node="${DELIVERIES_PER_NODE:-10000}" '
function money(x) { return sprintf("$%.0f", x) }
BEGIN {
	# Prices (USD).
	apigw_msg_1 = 1.00 / 1e6      # per message, first billion a month
	apigw_msg_2 = 0.80 / 1e6      # above a billion
	apigw_connmin = 0.25 / 1e6    # per connection-minute
	lambda_req = 0.20 / 1e6
	lambda_gbs = 0.0000133334     # arm64
	nat_h = 0.045; nat_gb = 0.045
	redis_node_h = 0.218          # cache.r7g.large (t4g.small is too small at this rate)
	logs_gb = 0.50; out_gb = 0.09
	node_h = 0.0725               # c7g.large, 2 vCPU
	nlb_h = 0.0225; nlb_lcu_h = 0.006
	month_h = 730

	ch = classrooms * hours * days                         # classroom-hours a month
	# Activity per classroom-hour (docs/LAMBDA.md cost model).
	cursor = cursor_per_s * 3600; pings = users * 60
	in_msgs = pings + cursor + chat + strokes + users
	out_msgs = cursor * (users - 1) + (strokes + chat) * users + (chat + strokes) + pings + users * 33
	posts_gb = out_msgs * 2000 / 1e9                        # a post with its SigV4 headers ≈ 2 KB
	out_bytes_gb = out_msgs * 300 / 1e9                     # ≈ 300 B per frame to clients
	invocations = in_msgs + 3 * users                        # + connect, disconnect, authorizer
	platform_log_gb = invocations * 300 / 1e9                # START/END/REPORT lines
	# Lambda deployment.
	msgs = (in_msgs + out_msgs) * ch
	l_msgs = (msgs <= 1e9) ? msgs * apigw_msg_1 : 1e9 * apigw_msg_1 + (msgs - 1e9) * apigw_msg_2
	l_conn = users * 60 * ch * apigw_connmin
	l_req = invocations * ch * lambda_req
	l_gbs = in_msgs * ch * lambda_ms / 1000 * lambda_gb * lambda_gbs
	l_nat = 2 * nat_h * month_h + posts_gb * ch * nat_gb
	l_logs = platform_log_gb * ch * logs_gb + 0.05 * days * logs_gb   # + aggregated EMF, ≈ 50 MB a day
	redis = 2 * redis_node_h * month_h
	out = out_bytes_gb * ch * out_gb
	lambda_total = l_msgs + l_conn + l_req + l_gbs + l_nat + l_logs + redis + out
	# Container deployment: nodes for the peak deliveries (every user gets
	# every durable event and every cursor but the own), two at least, on
	# all month; a network load balancer (billed by the hour and by GB
	# processed: an LCU per GB an hour).
	peak_deliveries = classrooms * (out_msgs / 3600)
	n = (nodes != "") ? nodes : int(peak_deliveries / deliveries_per_node) + 1
	if (n < 2) n = 2
	c_nodes = n * node_h * month_h
	c_lb = nlb_h * month_h + out_bytes_gb * classrooms * nlb_lcu_h * hours * days   # an LCU per GB/h processed
	c_logs = 0.05 * days * logs_gb
	container_total = c_nodes + c_lb + c_logs + redis + out
	printf "load: %d classrooms x %d users, %d h/day, %d days/month (%d classroom-hours)\n", classrooms, users, hours, days, ch
	printf "| item | API Gateway + Lambda | containers |\n| --- | ---: | ---: |\n"
	printf "| API Gateway messages (%.2f billion) | %s | - |\n", msgs / 1e9, money(l_msgs)
	printf "| API Gateway connection-minutes | %s | - |\n", money(l_conn)
	printf "| Lambda requests + GB-s | %s | - |\n", money(l_req + l_gbs)
	printf "| NAT gateways (2) + processing | %s | - |\n", money(l_nat)
	printf "| logs | %s | %s |\n", money(l_logs), money(c_logs)
	printf "| %d gateway nodes (c7g.large) + load balancer | - | %s |\n", n, money(c_nodes + c_lb)
	printf "| ElastiCache 2 x r7g.large | %s | %s |\n", money(redis), money(redis)
	printf "| data out | %s | %s |\n", money(out), money(out)
	printf "| **total per month** | **%s** | **%s** |\n", money(lambda_total), money(container_total)
	# Break-even: Lambda variable cost per classroom-hour vs the containers fixed cost.
	per_ch = (lambda_total - 2 * nat_h * month_h - redis - 0.05 * days * logs_gb) / ch
	fixed = c_nodes + c_lb
	printf "break-even: containers pay above %.0f classroom-hours a month (%.1f classrooms at this schedule)\n", fixed / per_ch, fixed / per_ch / (hours * days)
}'
