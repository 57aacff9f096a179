"""Scheduled generation on KubeRay: the CronJob's launcher and the CRD schemas it validates with.

Importing this package imports neither TensorFlow, Ray nor the kubernetes client.
"""
