"""Packaging for etude. Ranges are chosen so pip can never resolve a torch/torchaudio pair that fails to
import: torchaudio 2.11 wheels load only against CUDA builds of torch 2.11-2.14, and the CPU-only 2.13 wheel
some machines keep locally is excluded by the lower bound."""

from pathlib import Path

from setuptools import find_packages, setup

version_namespace: dict[str, str] = {}
exec((Path(__file__).parent / 'etude' / 'version.py').read_text(), version_namespace)

setup(
    name='etude',
    version=version_namespace['__version__'],
    description='A PyTorch toolkit for audio and music machine-learning research.',
    long_description=(Path(__file__).parent / 'README.md').read_text() if (Path(__file__).parent / 'README.md').exists() else '',
    long_description_content_type='text/markdown',
    python_requires='>=3.11',
    packages=find_packages(include=['etude', 'etude.*']),
    package_data={'etude': ['py.typed'], 'etude.listening': ['static/*.html', 'static/*.js', 'static/*.css'], 'etude.music': ['*/README.md']},
    install_requires=[
        'torch>=2.14,<2.15',
        'torchaudio>=2.11,<2.12',
        'numpy>=1.26',
        'miditok>=3.1,<3.2',  # the metrical token representation of music_generation (REMI with voices); imported only there
        'scipy>=1.11',
        'pyyaml>=6.0',
        'soundfile>=0.12',
        'soxr>=0.3',
        'pretty_midi>=0.2.10',
        'music21>=9.1',
        'partitura==1.9.0',
        'tqdm>=4.66',
        'wandb>=0.17',
        'matplotlib>=3.8',
        'starlette>=0.37',
        'uvicorn>=0.30',
        'pyloudnorm>=0.2',
        'mir_eval>=0.8.2',
    ],
    extras_require={
        # the client and MLflow's default sqlite store; `mlflow ui` needs the full mlflow
        'mlflow': ['mlflow-skinny>=3.17', 'sqlalchemy>=2.0', 'alembic>=1.13'],
        'tensorboard': ['tensorboard>=2.16'],
        'sweeps': ['optuna>=5.0'],
        # etude export --onnx (onnx, with torch's TorchScript exporter: its dynamo exporter, which needs onnxscript,
        # unrolls the transcriber's GRUs over a fixed number of frames) and etude infer of an .onnx file (onnxruntime)
        'onnx': ['onnx>=1.17', 'onnxruntime>=1.20'],
    },
    entry_points={
        'console_scripts': ['etude=etude.cli:main'],
        # task kinds and routines are found by these groups, etude's own as any installed package's (etude.tasks.registry)
        'etude.tasks': [
            'classification = etude.tasks.classification:Classification',
            'regression = etude.tasks.regression:Regression',
            'generation = etude.music.generation.task:Generation',
            'metrical_generation = etude.music.generation.metrical_task:MetricalGeneration',
            'transcription = etude.music.transcription.task:Transcription',
            'expressive_performance = etude.music.performance.task:ExpressivePerformance',
        ],
        'etude.routines': [
            'circular_drum_size = etude.routines.circular_drum_size',
            'rectangular_drum_dimensions = etude.routines.rectangular_drum_dimensions',
            'spoken_digits = etude.routines.spoken_digits',
            'music_generation = etude.music.generation.routine',
            'piano_transcription = etude.music.transcription.routine',
            'expressive_performance = etude.music.performance.routine',
        ],
    },
)
