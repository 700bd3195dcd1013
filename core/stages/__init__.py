"""The pipeline's stages, one module each, in order: decode, shots, faces (detect, align,
quality), tracking (and embedding), identify (with facebank enrolment), listen (VAD,
diarization, voices, ASR; voice bank enrolment), fusion, screen time, outputs and publish.

Each stage function takes its plugin instances and inputs and returns a typed output; the
orchestrator (``screenalytics.pipeline``) only resolves plugins and chains them.
"""
