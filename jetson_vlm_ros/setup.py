from glob import glob

from setuptools import find_packages, setup

package_name = 'jetson_vlm_ros'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', glob('launch/*.launch.py')),
        ('share/' + package_name + '/config', glob('config/*.yaml')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='jetson_vlm_ros maintainers',
    maintainer_email='maintainers@jetson-vlm-ros.dev',
    description='Ask a local vision-language model what the robot camera sees.',
    license='Apache-2.0',
    tests_require=['pytest'],
    entry_points={
        'console_scripts': [
            'vlm_node = jetson_vlm_ros.vlm_node:main',
            'demo_camera = jetson_vlm_ros.demo_camera:main',
        ],
    },
)
