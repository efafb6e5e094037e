"""Package set-up, nbdev style: everything is read from settings.ini."""
from configparser import ConfigParser
import setuptools, shlex

config = ConfigParser(delimiters=['='])
config.read('settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

expected = ('version description keywords author author_email license status min_python audience language '
            'requirements dev_requirements console_scripts lib_name').split()
missing = [o for o in expected if o not in cfg]
if missing: raise ValueError(f"settings.ini lacks: {missing}")

licenses = {'apache2': 'Apache-2.0'}   # SPDX expression (license classifiers are deprecated)
statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable', '6 - Mature', '7 - Inactive']
py_versions = '3.10 3.11 3.12 3.13'.split()

requirements = shlex.split(cfg.get('requirements', ''))
dev_requirements = shlex.split(cfg.get('dev_requirements', ''))
lic = licenses[cfg['license']]
min_python = cfg['min_python']
console_scripts = [s for s in cfg.get('console_scripts', '').split('\n') if s.strip()]

setuptools.setup(
    name=cfg['lib_name'],
    license=lic,
    classifiers=['Development Status :: ' + statuses[int(cfg['status'])],
                 'Intended Audience :: ' + cfg['audience'].title(),
                 'Natural Language :: ' + cfg['language'].title()]
                + ['Programming Language :: Python :: ' + o for o in py_versions[py_versions.index(min_python):]],
    url=cfg['git_url'],
    packages=setuptools.find_packages(include=['scg_music', 'scg_music.*']),
    include_package_data=True,
    package_data={'scg_music': ['configs/**/*.yml', 'configs/*.yml', 'assets/*', 'assets/**/*']},
    install_requires=requirements,
    extras_require={'dev': dev_requirements,
                    'widgets': ['ipywidgets', 'jupyterlab'],           # the rule tuner and the renderer in a notebook
                    'train': ['parangonar'],                           # note alignment for DExter data (also in the base set)
                    'hub': ['huggingface_hub'],                        # released weights from the hub
                    'docs': ['mkdocs', 'mkdocs-jupyter']},
    license_files=['LICENSE', 'MODEL_LICENSE.md'],
    python_requires='>=' + min_python,
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    zip_safe=False,
    entry_points={'console_scripts': console_scripts, 'nbdev': [f'{cfg["lib_name"]}={cfg["lib_name"]}._modidx:d']},
    version=cfg['version'], description=cfg['description'], keywords=cfg['keywords'],
    author=cfg['author'], author_email=cfg['author_email'],
)
