// Package sam holds the tests of the AWS deployment's scripts in this
// directory (template.yaml, build.sh, run-local.sh, cost.sh); there is no
// Go code here besides them.
package sam
