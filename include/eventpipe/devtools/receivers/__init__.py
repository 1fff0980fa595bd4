"""Local stand-ins for Splunk HEC, Heap and GA4."""
